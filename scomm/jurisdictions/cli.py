"""``scomm data``, ``scomm jurisdictions``, ``scomm jurisdiction`` and ``scomm map``.

The datasets (check, fetch), every county with its ICE office and activation date, one county's
rules in force on a day, and county maps of the policy or the rollout.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scomm.errors import InputError


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--on {text}", "a date is written YYYY-MM-DD") from None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def register(app: typer.Typer) -> None:
    data = typer.Typer(
        help="The public datasets: where each comes from, check, fetch.", no_args_is_help=True
    )
    app.add_typer(data, name="data")
    maps = typer.Typer(
        help="County maps of the detainer policy or the rollout.", no_args_is_help=True
    )
    app.add_typer(maps, name="map")

    @data.command("check")
    def data_check(
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="default: SCOMM_DATA_DIR")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Which datasets are present and valid (SHA-256), which are missing, where each comes from."""
        from scomm.jurisdictions.datasets import check
        from scomm.settings import data_dir as default_data_dir

        root = data_dir or default_data_dir()
        statuses = check(root)
        if as_json:
            out = {
                "data_dir": str(root),
                "datasets": [
                    {
                        "key": s.dataset.key,
                        "state": s.state,
                        "files": len(s.dataset.files),
                        "valid": s.valid,
                        "missing": list(s.missing),
                        "corrupt": list(s.corrupt),
                        "origin": s.dataset.origin,
                        "origin_url": s.dataset.origin_url,
                    }
                    for s in statuses
                ],
            }
            typer.echo(json.dumps(out, indent=2))
        else:
            console = Console()
            table = Table(title=f"Datasets in {root}")
            for column in ("dataset", "state", "files", "origin"):
                table.add_column(column, overflow="fold")
            colors = {"valid": "green", "missing": "red", "incomplete": "yellow", "invalid": "red"}
            for s in statuses:
                detail = f"{s.valid}/{len(s.dataset.files)}"
                if s.corrupt:
                    detail += f", {len(s.corrupt)} bad checksum ({s.corrupt[0]}...)"
                table.add_row(
                    s.dataset.key,
                    f"[{colors[s.state]}]{s.state}[/]",
                    detail,
                    f"{s.dataset.origin}\n{s.dataset.origin_url}",
                )
            console.print(table)
        if any(s.state != "valid" for s in statuses):
            raise typer.Exit(1)

    @data.command("fetch")
    def data_fetch(
        base_url: Annotated[
            str | None,
            typer.Option(
                "--from", help="a mirror laid out like the data directory (default: each origin)"
            ),
        ] = None,
        dataset: Annotated[
            list[str] | None, typer.Option("--dataset", help="only these keys")
        ] = None,
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="default: SCOMM_DATA_DIR")
        ] = None,
    ) -> None:
        """Download missing or corrupt files, verify each checksum, write atomically."""
        from scomm.jurisdictions.datasets import fetch
        from scomm.settings import data_dir as default_data_dir

        root = data_dir or default_data_dir()
        console = Console()
        results = fetch(root, base_url, dataset or None)
        counts: dict[str, int] = {}
        said: set[str] = set()
        for r in results:
            kind = r.outcome.split(":")[0]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "no direct download":
                # One line per dataset: FVC2002 alone would print 640 identical ones.
                if r.dataset not in said:
                    said.add(r.dataset)
                    console.print(f"{r.dataset}: {r.outcome}", highlight=False, soft_wrap=True)
            elif kind != "already valid":
                console.print(f"{r.path}: {r.outcome}", highlight=False, soft_wrap=True)
        console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" (into {root})")
        if any(r.outcome.startswith(("failed", "no direct")) for r in results):
            raise typer.Exit(1)

    @data.command("agreements")
    def data_agreements(
        as_json: Annotated[bool, typer.Option("--json")] = False,
        every: Annotated[
            bool, typer.Option("--all", help="every agreement, not only those not placed as given")
        ] = False,
    ) -> None:
        """The 287(g) file read: how each agreement was placed on a county, which could not be
        (listed, never guessed), which were corrected by name, which are not county jails."""
        from scomm.jurisdictions.agreements import Placement, load_agreements

        table = load_agreements()
        shown = [a for a in table.agreements if every or a.placement is not Placement.FIPS]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "source": table.source,
                        "counts": {
                            p.value: sum(1 for a in table.agreements if a.placement is p)
                            for p in Placement
                        },
                        "agreements": [_agreement_row_json(a) for a in shown],
                    },
                    indent=1,
                )
            )
            return
        console = Console()
        grid = Table(title=f"287(g) agreements ({len(shown)} of {len(table.agreements)} rows)")
        for column in ("row", "state", "agency", "years", "model", "FIPS file -> placed", "how"):
            grid.add_column(column, overflow="fold")
        for a in shown:
            grid.add_row(
                str(a.row),
                a.state,
                a.agency,
                _years_text(a.years),
                a.model.value,
                f"{a.fips_in_file or '-'} -> {a.fips or '-'}",
                a.placement.value + (f": {a.problem}" if a.problem else ""),
            )
        console.print(grid)
        for p in Placement:
            n = sum(1 for a in table.agreements if a.placement is p)
            console.print(f"{n:4d} {p.value}", highlight=False)
        console.print(f"[dim]source: {table.source}[/]", highlight=False)

    @app.command("jurisdictions")
    def jurisdictions_list(
        state: Annotated[str | None, typer.Option("--state", help="postal code, e.g. OR")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Every county: FIPS, name, 2010 population, ICE area, Secure Communities activation."""
        from scomm.jurisdictions.counties import load_jurisdictions

        registry = load_jurisdictions()
        counties = registry.by_state(state) if state else registry.all()
        if as_json:
            typer.echo(json.dumps([_county_json(c) for c in counties], indent=1))
            return
        console = Console()
        table = Table(title=f"{len(counties)} counties" + (f" of {state.upper()}" if state else ""))
        for column in ("fips", "name", "state", "population 2010", "ICE area", "activated"):
            table.add_column(column, overflow="fold")
        for c in counties:
            activated = _iso(c.activation_date) or "-"
            if c.activation_imputed:
                activated += " (state date)"
            table.add_row(c.fips, c.name, c.state, f"{c.population_in(2010):,}", c.aor, activated)
        console.print(table)
        for note in registry.notes:
            console.print(f"[dim]{note}[/]", highlight=False)

    @app.command("jurisdiction")
    def jurisdiction_show(
        fips: Annotated[str, typer.Argument(help="5-digit county FIPS")],
        on: Annotated[str, typer.Option("--on", help="the day, YYYY-MM-DD")],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """One county on a day: its data, the federal regime and the state and county policy
        periods in force, each with its reference and source."""
        from scomm.jurisdictions.counties import load_jurisdictions

        day = _day(on)
        county = load_jurisdictions().get(fips)
        out = _rules_json(county.fips, day)
        out["agreement_287g"] = _agreement_json(county.fips, day)
        out["county"] = _county_json(county)
        out["county"]["secure_communities_active"] = county.activated_by(day)
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            return
        console = Console()
        c = out["county"]
        console.print(f"[bold]{county.name}, {county.state}[/] ({county.fips}) on {day}")
        console.print(
            f"population {county.population_in(day.year):,}; ICE {county.field_office}; "
            f"Secure Communities activated {c['activation_date'] or 'never'}"
            + (
                " (state's date: county not in the rollout panel)"
                if county.activation_imputed
                else ""
            )
            + (": active" if c["secure_communities_active"] else ": not active that day"),
            highlight=False,
        )
        zone = county.time_zone
        offset = zone.tzinfo.utcoffset(dt.datetime.combine(day, dt.time(12)))
        console.print(
            f"time zone {zone.zone} (UTC{_offset(offset)} at noon that day); the hold clock "
            "counts the jail's local days" + (f"; {zone.jail_part}" if zone.jail_part else ""),
            highlight=False,
        )
        regime = out["federal"]
        if regime is None:
            console.print("federal: no regime covers this day")
        else:
            console.print(
                f"\n[bold]federal[/] {regime['name']}: {regime['summary']}", highlight=False
            )
            console.print(f"  [dim]{regime['reference']}[/]", highlight=False)
        for layer in out["layers"]:
            console.print(
                f"\n[bold]{layer['level']} {layer['fips']}[/] {layer['name']}", highlight=False
            )
            if layer["period"] is None:
                console.print("  no policy on record for this day: honors every detainer (default)")
                continue
            p = layer["period"]
            console.print(f"  {p['from']} to {p['to'] or 'open'}: {p['summary']}", highlight=False)
            console.print(f"  policy: {json.dumps(p['policy'])}", highlight=False)
            console.print(f"  [dim]reference: {p['reference']}[/]", highlight=False)
            console.print(f"  [dim]source: {p['source']}[/]", highlight=False)
            for item in p["unknown"]:
                console.print(f"  [yellow]unknown:[/] {item}", highlight=False)
        _print_agreement(console, out["agreement_287g"])

    @maps.command("policy")
    def map_policy(
        on: Annotated[str, typer.Option("--on", help="the day, YYYY-MM-DD")],
        out: Annotated[Path, typer.Option("--out", help="FILE.png or FILE.svg")],
    ) -> None:
        """Counties coloured by the detainer policy in force: honors all, conditional, declines,
        opted out, not activated."""
        from scomm.jurisdictions.maps import policy_map

        county_map = policy_map(_day(on))
        _save(county_map, out)

    @maps.command("rollout")
    def map_rollout(
        on: Annotated[str, typer.Option("--on", help="the day, YYYY-MM-DD")],
        out: Annotated[Path, typer.Option("--out", help="FILE.png or FILE.svg")],
    ) -> None:
        """Counties coloured by their Secure Communities activation year, grey if not yet active."""
        from scomm.jurisdictions.maps import rollout_map

        _save(rollout_map(_day(on)), out)


def _save(county_map: Any, out: Path) -> None:
    path = county_map.save(out)
    counts: dict[str, int] = {}
    for label, color in county_map.legend.entries:
        counts[label] = sum(1 for c in county_map.legend.colors.values() if c == color)
    Console().print(
        f"wrote {path}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False
    )


def _offset(offset: dt.timedelta | None) -> str:
    minutes = int((offset or dt.timedelta(0)) / dt.timedelta(minutes=1))
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _county_json(c: Any) -> dict[str, Any]:
    return {
        "fips": c.fips,
        "name": c.name,
        "state": c.state,
        "population": {str(y): n for y, n in sorted(c.population.items())},
        "noncitizen": {
            str(y): {"estimate": e, "moe": m} for y, (e, m) in sorted(c.noncitizen.items())
        },
        "aor": c.aor,
        "field_office": c.field_office,
        "activation_date": _iso(c.activation_date),
        "activation_imputed": c.activation_imputed,
        "time_zone": c.time_zone.zone,
        "time_zone_split": list(c.time_zone.split),
        "time_zone_jail_part": c.time_zone.jail_part or None,
    }


def _period_json(period: Any) -> dict[str, Any]:
    return {
        "from": period.start.isoformat(),
        "to": _iso(period.end),
        "summary": " ".join(period.summary.split()),
        "reference": period.reference,
        "source": period.source,
        "unknown": list(period.unknown),
        "policy": period.policy.model_dump(mode="json"),
    }


def _name_of(code: str) -> str:
    from scomm.jurisdictions.counties import load_jurisdictions
    from scomm.jurisdictions.states import BY_FIPS

    if len(code) == 2:
        return BY_FIPS[code].name if code in BY_FIPS else code
    return load_jurisdictions().get(code).name


def _rules_json(fips: str, day: dt.date) -> dict[str, Any]:
    """The federal regime and the state and county periods in force (the lead's
    ``rules_in_force`` composes them; the periods are shown as the files give them)."""
    from scomm.policies.load import federal_regimes, jurisdiction_policies

    regime_period = federal_regimes().in_force(day)
    federal = None
    if regime_period is not None:
        federal = {
            "name": regime_period.regime.name,
            "from": regime_period.start.isoformat(),
            "to": _iso(regime_period.end),
            "summary": " ".join(regime_period.summary.split()),
            "reference": regime_period.reference,
            "opt_out_of_results_allowed": regime_period.regime.opt_out_of_results_allowed,
        }
    files = jurisdiction_policies()
    layers = []
    for level, code in (("state", fips[:2]), ("county", fips)):
        policy_file = files.get(code)
        period = policy_file.in_force(day) if policy_file else None
        layers.append(
            {
                "level": level,
                "fips": code,
                "name": policy_file.name if policy_file else _name_of(code),
                "period": _period_json(period) if period else None,
            }
        )
    out: dict[str, Any] = {"day": day.isoformat(), "federal": federal, "layers": layers}
    if regime_period is not None:
        from scomm.jurisdictions.counties import load_jurisdictions
        from scomm.jurisdictions.maps import policy_category

        county = load_jurisdictions().get(fips)
        out["category"] = policy_category(fips, day, county.activated_by(day))
    return out


def _years_text(years: tuple[int, ...]) -> str:
    if not years:
        return "-"
    runs: list[list[int]] = []
    for y in years:
        if runs and runs[-1][-1] == y - 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _agreement_row_json(a: Any) -> dict[str, Any]:
    return {
        "row": a.row,
        "agency": a.agency,
        "state": a.state,
        "ori": a.ori,
        "years": list(a.years),
        "periods": [[s.isoformat(), e.isoformat()] for s, e in a.periods],
        "model": a.model.value,
        "kind": a.kind.value,
        "fips_in_file": a.fips_in_file,
        "fips": a.fips,
        "placement": a.placement.value,
        "problem": a.problem,
        "ended_section": a.ended_section,
        "notes": a.notes,
    }


def _agreement_json(fips: str, day: dt.date) -> dict[str, Any]:
    """The county's 287(g) agreements and whether a jail-model one is in force on ``day``."""
    from scomm.errors import DataError
    from scomm.jurisdictions.agreements import SOURCE, load_agreements

    try:
        table = load_agreements()
    except DataError as exc:
        return {"available": False, "problem": str(exc), "source": SOURCE}
    return {
        "available": True,
        "jail_model_in_force": table.in_force(fips, day),
        "agreements": [_agreement_row_json(a) for a in table.agreements_of(fips)],
        "source": table.source,
    }


def _print_agreement(console: Console, info: dict[str, Any]) -> None:
    console.print("\n[bold]287(g)[/]", highlight=False)
    if not info["available"]:
        console.print(f"  [yellow]not known:[/] {info['problem']}", highlight=False)
        return
    if not info["agreements"]:
        console.print("  no agreement on record for this county (2005-2019)")
    for a in info["agreements"]:
        years = _years_text(tuple(a["years"]))
        console.print(f"  {a['agency']}: {a['model']}, years {years}", highlight=False)
        if a["notes"]:
            console.print(f"  [dim]notes: {a['notes']}[/]", highlight=False)
    state = "in force" if info["jail_model_in_force"] else "not in force"
    console.print(f"  jail-model agreement {state} that day", highlight=False)
    console.print(f"  [dim]source: {info['source']}[/]", highlight=False)
