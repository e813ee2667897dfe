"""The report's section on the real record: each series beside the model's, as a picture and
a table of the gap per year (``scomm simulate --report``)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

from scomm.errors import DataError
from scomm.record.series import ModelSeries, compare, gaps_by_year

if TYPE_CHECKING:
    from scomm.policies.practice import Practice
    from scomm.simulation.national import ScenarioRuns


def _cell(value: float | None, share: bool) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2%}" if share else f"{value:,.0f}"


def record_section(runs: ScenarioRuns, directory: Path, practice: Practice | None = None) -> str:
    """HTML for the run beside ICE's detainer record; PNGs go into ``directory/record``."""
    from scomm.record.plots import NOT_DRAWN, plot

    try:
        comparisons = compare(ModelSeries.from_runs(runs, practice))
    except DataError as exc:
        return (
            "<h2>The real record</h2>"
            f'<p class="note">ICE\'s detainer record is not available: {html.escape(str(exc))}</p>'
        )
    parts = [
        "<h2>The real record beside the model</h2>",
        '<p class="note">ICE\'s own detainer records (FOIA). They count every detainer, from '
        "every door; the model's figure beside each is named under its table. The band is "
        "the model's 90% interval over the runs.</p>",
    ]
    (directory / "record").mkdir(parents=True, exist_ok=True)
    for c in comparisons:
        if not c.rows:
            continue
        use = "fitted by scomm calibrate" if c.fitted else "a check (not fitted)"
        parts.append(f"<h3>{html.escape(c.title)}</h3>")
        if c.key not in NOT_DRAWN:
            png = plot(c, directory / "record" / f"{c.key}.png")
            parts.append(
                f'<figure><img src="record/{png.name}" alt="{html.escape(c.title)}" '
                'width="100%"></figure>'
            )
        rows = []
        for g in gaps_by_year(c):
            interval = (
                f"[{_cell(g.low, c.share)}, {_cell(g.high, c.share)}]" if g.low is not None else "-"
            )
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(v)}</td>"
                    for v in (
                        g.year,
                        _cell(g.real, c.share),
                        _cell(g.model, c.share),
                        interval,
                        "-" if math.isnan(g.gap) else f"{g.gap:+.0%}",
                        f"{g.within}/{g.periods}" if c.tolerance is not None else "-",
                    )
                )
                + "</tr>"
            )
        head = "".join(
            f"<th>{h}</th>" for h in ("year", "record", "model", "90% interval", "gap", "within")
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        parts.append(
            f'<p class="note">{use}; record: {html.escape(c.real_series)}; model: '
            f"{html.escape(' + '.join(c.model_outputs))}; source: {html.escape(c.source)}</p>"
        )
    return "\n".join(parts)
