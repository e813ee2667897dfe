"""What each aggregate page shows, as plain data: the HTML page renders it, its ``/api/``
twin returns it as JSON, its CSV download writes it. Pure functions of the national run, the
policy files and the jurisdictions data."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

import numpy as np

from scomm.errors import InputError, PolicyError
from scomm.jurisdictions.counties import load_jurisdictions
from scomm.outputs import term
from scomm.policies.load import federal_regimes, jurisdiction_policies, parse_policy
from scomm.policies.schema import JurisdictionPolicy
from scomm.simulation.engine import OUTPUTS
from scomm.simulation.results import HEADLINE, SHARES
from scomm.web import record
from scomm.web.simulate import COUNTY_OUTPUTS, NationalRun, band, estimate

NATION_SERIES = (
    "detainers_issued",
    "holds",
    "removals",
    "removals_non_criminal",
    "us_citizens_held",
)
COUNTY_SERIES = (
    "detainers_issued",
    "holds",
    "hold_bed_days",
    "hold_cost_usd",
    "us_citizens_held",
    "removals_level_1",
    "removals_level_2",
    "removals_level_3",
    "removals_non_criminal",
)


def words(name: str) -> dict[str, str]:
    t = term(name)
    return {"name": name, "label": t.label, "definition": t.definition, "unit": t.unit}


def _totals(by_run: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = dict(by_run)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (parts, per) in SHARES.items():
            if per in out and all(p in out for p in parts):
                out[name] = sum(out[p] for p in parts) / out[per]
    return out


def _real_series(months: list[str], counts: dict[str, int] | None) -> list[int | None] | None:
    if counts is None:
        return None
    return [counts.get(m) for m in months]


def nation(run: NationalRun) -> dict[str, Any]:
    return dict(run.remember("nation", "", lambda: _nation(run)))


def _nation(run: NationalRun) -> dict[str, Any]:
    totals = run.national.sum(axis=1)  # [run, output]
    by_run = _totals({name: totals[:, k] for k, name in enumerate(OUTPUTS)})
    headline = [words(name) | estimate(by_run[name]) for name in HEADLINE]
    series = {
        name: words(name) | band(run.national[:, :, OUTPUTS.index(name)]) for name in NATION_SERIES
    }
    real = _real_series(run.months, record.national())
    return {
        "place": "United States",
        "settings": run.settings.__dict__ | {"command": run.settings.command()},
        "interval": "90% (5th to 95th percentile of the runs)",
        "headline": headline,
        "months": run.months,
        "series": series,
        "real": None
        if real is None
        else words("foia_detainers") | {"source": record.NATIONAL_SOURCE, "values": real},
    }


def _period_rows(layer: str, jurisdiction: str, periods: Any) -> list[dict[str, Any]]:
    rows = []
    for p in periods:
        rule = getattr(p, "policy", None) or getattr(p, "regime", None)
        rows.append(
            {
                "layer": layer,
                "jurisdiction": jurisdiction,
                "from": p.start.isoformat(),
                "to": p.end.isoformat() if p.end else None,
                "summary": " ".join(p.summary.split()),
                "reference": p.reference,
                "source": p.source,
                "rule": rule.model_dump(mode="json", exclude_defaults=True) if rule else {},
            }
        )
    return rows


def policy_timeline(fips: str) -> list[dict[str, Any]]:
    """Every policy layer over time for a county: the federal regimes, its state's law, its
    own policy, oldest first."""
    rows = _period_rows("federal", "United States", federal_regimes().periods)
    files = jurisdiction_policies()
    for code, layer in ((fips[:2], "state"), (fips, "county")):
        if code in files:
            rows += _period_rows(layer, files[code].name, files[code].periods)
    return sorted(rows, key=lambda r: (r["from"], r["layer"]))


def county(run: NationalRun, fips: str) -> dict[str, Any]:
    return dict(run.remember("county", fips, lambda: _county(run, fips)))


def _county(run: NationalRun, fips: str) -> dict[str, Any]:
    jurisdictions = load_jurisdictions()
    if not jurisdictions.known_fips(fips) or fips not in run.fips_row:
        raise InputError(f"county {fips}", "no such county FIPS code (5 digits, e.g. 06085)")
    c = jurisdictions.get(fips)
    office = jurisdictions.field_offices.get(c.aor)
    data = run.county_series(fips)  # [run, month, COUNTY_OUTPUTS]
    by_run = _totals({name: data[:, :, k].sum(axis=1) for k, name in enumerate(COUNTY_OUTPUTS)})
    latest = max(c.population)
    real = record.county_by_month(fips)
    return {
        "fips": fips,
        "name": c.name,
        "state": c.state,
        "population": {"year": latest, "count": c.population[latest]},
        "activation_date": c.activation_date.isoformat() if c.activation_date else None,
        "activation_imputed": c.activation_imputed,
        "ice_office": {
            "aor": c.aor,
            "field_office": c.field_office,
            "address": office.address if office else None,
        },
        "policy_timeline": policy_timeline(fips),
        "settings": run.settings.__dict__ | {"command": run.settings.command()},
        "interval": "90% (5th to 95th percentile of the runs)",
        "totals": [
            words(n) | estimate(by_run[n]) for n in (*COUNTY_OUTPUTS, "detainers_declined_share")
        ],
        "months": run.months,
        "series": {n: words(n) | band(data[:, :, COUNTY_OUTPUTS.index(n)]) for n in COUNTY_SERIES},
        "real": None
        if real is None
        else words("foia_detainers")
        | {
            "source": record.PENNSYLVANIA_SOURCE + ", the county's own jails and lockups",
            "values": _real_series(run.months, real),
        },
    }


def county_index(run: NationalRun) -> list[dict[str, Any]]:
    """Every county with its simulated detainers, for the county search."""
    return list(run.remember("county_index", "", lambda: _county_index(run)))


def _county_index(run: NationalRun) -> list[dict[str, Any]]:
    k = COUNTY_OUTPUTS.index("detainers_issued")
    issued = run.county[:, :, :, k].sum(axis=1).mean(axis=0)
    out = []
    for c in load_jurisdictions().all():
        row = run.fips_row.get(c.fips)
        out.append(
            {
                "fips": c.fips,
                "name": c.name,
                "state": c.state,
                "detainers_issued": None if row is None else round(float(issued[row]), 1),
            }
        )
    return out


# --------------------------------------------------------------------------- policies


@cache
def policy_files() -> list[dict[str, Any]]:
    """The package's policy files (they do not change while the server runs)."""
    files: list[dict[str, Any]] = [
        {
            "fips": "US",
            "name": "Federal regimes",
            "state": None,
            "periods": len(federal_regimes().periods),
            "path": "scomm/policies/federal/regimes.yaml",
        }
    ]
    for f in sorted(jurisdiction_policies().values(), key=lambda f: f.fips):
        files.append(
            {
                "fips": f.fips,
                "name": f.name,
                "state": f.state,
                "periods": len(f.periods),
                "path": _path_of(f.fips),
            }
        )
    return files


def _path_of(fips: str) -> str:
    if fips == "US":
        return "scomm/policies/federal/regimes.yaml"
    path = _jurisdiction_paths().get(fips)
    if path is None:
        raise InputError(f"policy {fips}", "no such policy file (see /policies)")
    return path


@cache
def _jurisdiction_paths() -> dict[str, str]:
    from importlib import resources

    root = resources.files("scomm.policies").joinpath("jurisdictions")
    return {
        entry.name.split("-")[0]: f"scomm/policies/jurisdictions/{entry.name}"
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith((".yaml", ".yml"))
    }


def policy_file(fips: str) -> dict[str, Any]:
    from importlib import resources

    path = _path_of(fips)
    text = resources.files("scomm").joinpath(path.removeprefix("scomm/")).read_text()
    parsed = federal_regimes() if fips == "US" else jurisdiction_policies()[fips]
    return {
        "fips": fips,
        "name": parsed.name,
        "description": " ".join(parsed.description.split()),
        "path": path,
        "text": text,
        "periods": _period_rows(
            "federal" if fips == "US" else "county" if len(fips) == 5 else "state",
            parsed.name,
            parsed.periods,
        ),
    }


_PROBLEM = re.compile(r"line (\d+): ")


def check_draft(text: str) -> dict[str, Any]:
    """Validate a draft policy file: ``ok``, and each error with its line."""
    known = load_jurisdictions().known_fips
    try:
        parsed = parse_policy(text, "draft", lambda f: len(f) == 2 or known(f))
    except PolicyError as exc:
        errors = []
        parts = _PROBLEM.split(exc.problem)
        if len(parts) > 1:  # "line N: message; line M: message"
            for line, message in zip(parts[1::2], parts[2::2], strict=True):
                errors.append({"line": int(line), "message": message.rstrip("; ")})
        else:
            where_line = exc.where.rsplit(":", 1)[-1]
            line = int(where_line) if where_line.isdigit() else None
            errors.append({"line": line, "message": exc.problem})
        return {"ok": False, "errors": errors, "lines": text.splitlines()}
    if not isinstance(parsed, JurisdictionPolicy):
        return {
            "ok": False,
            "errors": [
                {"line": 1, "message": "a draft is a state's or county's file, not fips: US"}
            ],
            "lines": text.splitlines(),
        }
    return {
        "ok": True,
        "errors": [],
        "lines": text.splitlines(),
        "fips": parsed.fips,
        "name": parsed.name,
        "periods": _period_rows("draft", parsed.name, parsed.periods),
    }


def parse_day(value: str | None, default: dt.date) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError("on", f"{value!r} is not a date YYYY-MM-DD") from None
