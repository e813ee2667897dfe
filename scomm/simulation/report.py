"""The HTML report of a national run: the headline table, removals by level over time, the
county map of the policy wave, the scenario comparison and the published figures beside the
model's. One folder, every asset local (inline SVG and SVG files): it opens offline."""

from __future__ import annotations

import datetime as dt
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scomm.files import write_text_atomic  # noqa: E402
from scomm.policies.decisions import LEVEL_CODES  # noqa: E402
from scomm.simulation.calibration import evaluate, table_rows  # noqa: E402
from scomm.simulation.engine import OUTPUTS  # noqa: E402
from scomm.simulation.results import (  # noqa: E402
    BASELINE,
    Outcome,
    differences,
    estimates,
    headline_rows,
)

LEVEL_COLORS = ("#7f0000", "#d7301f", "#fc8d59", "#fdcc8a")
COMPARED = ("detainers_issued", "holds", "us_citizens_held", "removals", "removals_non_criminal")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: drop the XML prologue


def removals_chart(outcome: Outcome) -> str:
    runs = outcome.baseline or next(iter(outcome.scenarios.values()))
    months = runs.month_starts().astype(dt.date)
    mean = runs.by_month.mean(axis=0)  # [month, output]
    # removals of people IDENT matched: the ones ICE counts as through Secure Communities
    series = [mean[:, OUTPUTS.index(f"ident_removals_{lvl.value}")] for lvl in LEVEL_CODES]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(
        months,
        *series,
        labels=[lvl.value.replace("_", " ") for lvl in LEVEL_CODES],
        colors=LEVEL_COLORS,
    )
    ax.set_ylabel("removals per month")
    ax.set_title(f"Removals through Secure Communities by ICE level ({runs.scenario})")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    return _svg(fig)


def comparison_chart(outcome: Outcome) -> str | None:
    base = outcome.baseline
    others = [r for name, r in outcome.scenarios.items() if name != BASELINE]
    if base is None or not others:
        return None
    base_values = estimates(base)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.9 * len(others) * len(COMPARED) / 3))
    y = 0.0
    ticks, labels = [], []
    for r in others:
        diff = differences(r, base)
        for key in COMPARED:
            reference = base_values[key].mean
            if not reference:
                continue
            d = diff[key]
            ax.barh(y, 100 * d.mean / reference, color="#3b6ea8")
            ax.errorbar(
                100 * d.mean / reference,
                y,
                xerr=[[100 * (d.mean - d.low) / reference], [100 * (d.high - d.mean) / reference]],
                color="black",
                capsize=3,
            )
            ticks.append(y)
            labels.append(f"{r.scenario}: {key}")
            y += 1
        y += 0.5
    ax.set_yticks(ticks, labels)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("change from the baseline, % (90% interval over the runs)")
    ax.set_title("Scenarios against history")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def definitions_table() -> str:
    """What each headline figure counts, in the words the web app and the CLI use."""
    from scomm.outputs import term
    from scomm.simulation.results import HEADLINE

    return _table(
        ["figure", "what it counts", "code name (JSON, Parquet)"],
        [(term(k).label, term(k).definition, k) for k in HEADLINE],
    )


def declined_share_values(outcome: Outcome) -> dict[str, float]:
    """Per county, the share of detainers declined over the last twelve months of the run."""
    runs = outcome.baseline or next(iter(outcome.scenarios.values()))
    last = runs.detail[-12:].sum(axis=0)
    issued = last[:, OUTPUTS.index("detainers_issued")]
    declined = last[:, OUTPUTS.index("detainers_declined")]
    return {
        str(f): float(d / i) for f, d, i in zip(runs.fips, declined, issued, strict=True) if i > 0
    }


def _table(header: list[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(outcome: Outcome, directory: Path) -> Path:
    """Write ``index.html`` and its maps into ``directory``; return the index's path."""
    from scomm.jurisdictions.maps import declined_map, policy_map

    directory.mkdir(parents=True, exist_ok=True)
    plan = outcome.plan
    end = (np.datetime64(plan.last, "M") + 1).astype("datetime64[D]") - 1
    end_day = end.astype(dt.date)
    # PNG: a map of 3,142 counties is about 200 KB as PNG, megabytes as SVG.
    policy_map(end_day).save(directory / "policy_in_force.png")
    maps_html = (
        '<figure><img src="policy_in_force.png" alt="county map of the detainer policy in force" '
        f'width="100%"><figcaption>Detainer policy in force on {end_day} (policy files). '
        "Grey: Secure Communities not yet active; white: a county with no value.</figcaption></figure>"
    )
    runs = outcome.baseline or next(iter(outcome.scenarios.values()))
    last = runs.detail[-12:].sum(axis=0)
    fips = [str(f) for f in runs.fips]
    issued = dict(zip(fips, last[:, OUTPUTS.index("detainers_issued")].tolist(), strict=True))
    declined = dict(zip(fips, last[:, OUTPUTS.index("detainers_declined")].tolist(), strict=True))
    if any(v > 0 for v in declined.values()):
        declined_map(
            issued,
            declined,
            "Share of detainers declined, last 12 months of the run (simulated)",
            note="scomm simulate: baseline, first run",
        ).save(directory / "declined_share.png")
        n_declining = sum(1 for f in fips if declined[f] > 0)
        maps_html += (
            '<figure><img src="declined_share.png" alt="county map of the share of detainers '
            'declined" width="100%"><figcaption>Share of detainers declined by the jail, last '
            f"twelve months of the run: {n_declining:,} counties declined some. Light grey: no "
            "detainer in those months; white: a county with no value.</figcaption></figure>"
        )

    header = ["figure"]
    for name in outcome.scenarios:
        header.append(name)
        if name != BASELINE:
            header.append("vs baseline")
    comparison = comparison_chart(outcome)
    base = outcome.baseline
    calibration = ""
    if base is not None:
        calibration = "<h2>Published figures and the model</h2>" + _table(
            ["figure", "published", "model (first run)", "gap", ""],
            table_rows(evaluate(base)),
        )
    record_html = ""
    if base is not None:
        from scomm.record.report import record_section

        record_html = record_section(base, directory, plan.assumptions.practice)
    interval = (
        "Each figure is the mean over the runs with its 90% interval (5th to 95th percentile)."
        if plan.runs > 1
        else "One run: no interval (use --runs N)."
    )
    rates = plan.rates
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>scomm: the United States, {html.escape(plan.first)} to {html.escape(plan.last)}</title>
<style>{STYLE}</style></head><body>
<h1>Secure Communities, {html.escape(plan.first)} to {html.escape(plan.last)}</h1>
<p class="note">scomm simulate, seed {plan.seed}, {plan.runs} run(s), sample {plan.options.sample:g},
{"with" if plan.options.safeguards else "without"} the citizenship safeguard at the jail;
{outcome.seconds:.0f} s. Biometric outcomes: miss rate {rates.miss_rate:.4g}, false match
rate {rates.false_match_rate:.3g} ({html.escape(rates.source)}). {interval}</p>
<h2>Headline figures</h2>
{_table(header, headline_rows(outcome))}
<details><summary>What each figure counts</summary>{definitions_table()}</details>
<h2>Removals by level over time</h2>
<figure>{removals_chart(outcome)}</figure>
<h2>The policy wave</h2>
{maps_html}
{"<h2>Scenario comparison</h2><figure>" + comparison + "</figure>" if comparison else ""}
{calibration}
{record_html}
<p class="note">Assumptions: {html.escape(_assumptions_note(outcome))}</p>
</body></html>
"""
    index = directory / "index.html"
    write_text_atomic(index, page)
    return index


def _assumptions_note(outcome: Outcome) -> str:
    fitted = outcome.plan.assumptions.fitted
    if not fitted:
        return "the priors of population.yaml and practice.yaml (no calibration)"
    items = ", ".join(f"{k} = {v:.3g}" for k, v in fitted.items() if not math.isnan(float(v)))
    return f"calibrated values over the priors: {items}"
