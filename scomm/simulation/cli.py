"""``scomm simulate``, ``scomm calibrate``, ``scomm scenarios``: the whole country through the
same rules, month by month."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        first: Annotated[str, typer.Option("--from", help="first month YYYY-MM")] = "2008-10",
        last: Annotated[str, typer.Option("--to", help="last month YYYY-MM")] = "2014-09",
        seed: Annotated[int, typer.Option("--seed")] = 1,
        runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs per scenario")] = 1,
        scenario: Annotated[
            list[str] | None,
            typer.Option(
                "--scenario",
                # escaped: Rich would take [@PLACE] for a style and drop it
                help=escape(
                    "a what-if overlay: NAME[@PLACE][:DATE] or FILE.yaml (repeat, or join "
                    "with + to compose); see `scomm scenarios`"
                ),
            ),
        ] = None,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="write the figures here")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="write an HTML report into this folder")
        ] = None,
        parquet: Annotated[
            Path | None,
            typer.Option("--parquet", help="write county, state and national tables here"),
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", help="processes (default: all cores)")
        ] = None,
        ray: Annotated[
            str | None,
            typer.Option("--ray", help="run on a Ray cluster at this address ('local': here)"),
        ] = None,
        sample: Annotated[
            float, typer.Option("--sample", help="share of bookings simulated (weighted up)")
        ] = 1.0,
        assumptions_file: Annotated[
            Path | None,
            typer.Option("--assumptions", help="a calibration file (default: the package's)"),
        ] = None,
        safeguards: Annotated[
            bool, typer.Option("--safeguards/--historical", help="citizenship check at the jail")
        ] = False,
    ) -> None:
        """Every booking in every county, month by month, under history and the what-ifs."""
        from rich.progress import Progress

        from scomm.errors import InputError
        from scomm.policies.overlays import spec_of
        from scomm.simulation.assumptions import load_assumptions
        from scomm.simulation.engine import Options
        from scomm.simulation.headline import print_headline
        from scomm.simulation.national import Plan, months, simulate_plan
        from scomm.simulation.rates import measured_rates
        from scomm.simulation.results import BASELINE, Outcome
        from scomm.simulation.scenarios import SEPARATOR, parse_names

        try:
            options = Options(safeguards=safeguards, sample=sample)
        except ValueError as exc:
            raise InputError("--sample", str(exc)) from None
        months(first, last)
        if runs < 1:
            raise InputError("--runs", f"at least one run, not {runs}")
        names = [spec_of(parse_names([item])) for item in scenario or []]
        chosen = [BASELINE] + [n for n in names if n != BASELINE]
        plan = Plan(
            first,
            last,
            seed,
            runs,
            tuple(tuple(n.split(SEPARATOR)) for n in chosen),
            load_assumptions(assumptions_file),
            measured_rates(),
            options,
        )
        console = Console()
        began = time.perf_counter()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("county groups x runs x scenarios", total=None)
            results = simulate_plan(
                plan,
                workers=workers,
                ray_address=ray,
                progress=lambda i, n: bar.update(task, completed=i, total=n),
            )
        outcome = Outcome(plan, results, time.perf_counter() - began)
        interval = " (mean, 90% interval under it)" if runs > 1 else ""
        print_headline(
            outcome,
            f"United States, {first} to {last}, seed {seed}, {runs} run(s){interval}",
            console,
        )
        console.print(f"{outcome.seconds:.1f} s")
        if json_path:
            outcome.write_json(json_path)
        if parquet:
            outcome.write_parquet(parquet)
        if report:
            from scomm.simulation.report import write_report

            index = write_report(outcome, report)
            console.print(f"report: {index}")

    @app.command("calibrate")
    def calibrate(
        out: Annotated[Path, typer.Option("--out", help="where the fitted assumptions go")] = Path(
            "out/calibrated.yaml"
        ),
        seed: Annotated[int, typer.Option("--seed")] = 1,
        sample: Annotated[
            float, typer.Option("--sample", help="share of bookings each evaluation simulates")
        ] = 0.01,
        first: Annotated[str, typer.Option("--from")] = "2008-10",
        last: Annotated[str, typer.Option("--to")] = "2014-09",
        max_evaluations: Annotated[int, typer.Option("--max-evaluations")] = 40,
        workers: Annotated[int | None, typer.Option("--workers")] = None,
        start: Annotated[
            Path | None,
            typer.Option("--start", help="start from this fit's values (default: the priors)"),
        ] = None,
        free: Annotated[
            list[str] | None,
            typer.Option("--free", help="fit only these assumptions (repeat; default: all)"),
        ] = None,
        method: Annotated[
            str, typer.Option("--method", help="least_squares or coordinate (pattern search)")
        ] = "least_squares",
    ) -> None:
        """Fit the unknown rates to the published figures; save them with the fit's quality."""
        from scomm.errors import InputError
        from scomm.simulation.assumptions import load_assumptions
        from scomm.simulation.calibration import FREE, table_rows, write_fit
        from scomm.simulation.calibration import calibrate as fit_rates
        from scomm.simulation.national import months
        from scomm.simulation.rates import measured_rates

        months(first, last)
        if not 0 < sample <= 1:
            raise InputError("--sample", f"must be in (0, 1], not {sample}")
        unknown = [n for n in free or [] if n not in FREE]
        if unknown:
            raise InputError("--free", f"not a fitted assumption: {unknown}; known: {list(FREE)}")
        chosen = {n: FREE[n] for n in free} if free else FREE
        console = Console()
        with console.status("fitting") as status:
            fit = fit_rates(
                seed=seed,
                sample=sample,
                first=first,
                last=last,
                start=load_assumptions(start) if start else None,
                rates=measured_rates(),
                max_evaluations=max_evaluations,
                free=chosen,
                workers=workers,
                method=method,
                progress=lambda i, rms: status.update(f"evaluation {i}: rms gap {rms:.3f}"),
            )
        fit = replace(
            fit,
            command=(
                f"scomm calibrate --seed {seed} --sample {sample} --from {first} --to {last} "
                f"--max-evaluations {max_evaluations}"
                + (f" --start {start}" if start else "")
                + "".join(f" --free {n}" for n in free or [])
                + (f" --method {method}" if method != "least_squares" else "")
            ),
        )
        table = Table(title=f"Calibration: rms relative gap {fit.rms_gap:.1%}")
        for column in ("figure", "target", "model", "gap", ""):
            table.add_column(
                column, justify="left" if column == "figure" else "right", overflow="fold"
            )
        for row in table_rows(fit.rows):
            table.add_row(*row)
        console.print(table)
        fitted = Table(title="Fitted assumptions")
        fitted.add_column("assumption", overflow="fold")
        fitted.add_column("value", justify="right", overflow="fold")
        for name, value in fit.values.items():
            fitted.add_row(name, f"{value:.4g}")
        console.print(fitted)
        if fit.record:
            record = Table(title="ICE's detainer record at the fitted values")
            for column in ("series", "rms gap", "within tolerance", ""):
                record.add_column(
                    column, justify="left" if column == "series" else "right", overflow="fold"
                )
            for key, q in fit.record.items():
                rms, within = q["rms_gap"], q["share_within_tolerance"]
                record.add_row(
                    key,
                    "-" if rms is None else f"{rms:.1%}",
                    "-" if within is None else f"{within:.0%}",
                    "fitted" if q["fitted"] else "check",
                )
            console.print(record)
        write_fit(fit, out)
        console.print(f"{fit.evaluations} evaluations, {fit.seconds:.0f} s: {fit.message}")
        console.print(f"written to {out}")

    @app.command("scenarios")
    def scenarios() -> None:
        """The what-ifs (overlays) `scomm simulate --scenario` and `scomm run --scenario` take."""
        from scomm.policies.overlays import scenarios as known

        table = Table(
            title=escape(
                "Scenarios: NAME[@PLACE][:DATE], PLACE a 2-digit state or 5-digit county "
                "FIPS, DATE YYYY-MM-DD (both optional), or a YAML file; compose with +"
            )
        )
        for column in ("name", "what changes", "source"):
            table.add_column(column, overflow="fold")
        for s in known().values():
            name = s.name + (f"\n(also {', '.join(s.aliases)})" if s.aliases else "")
            table.add_row(name, f"{s.title}: {' '.join(s.description.split())}", s.source)
        Console().print(table)
        Console().print(
            "Example: scomm run --county 06085 --scenario judicial_warrant@06085:2012-01-01",
            highlight=False,
            markup=False,
        )
