"""``scomm validate``: each real series beside the model's, with its 90% interval, the gap per
year, as tables, PNGs and JSON; and ``scomm record``: the record itself."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fmt(value: float | None, share: bool) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2%}" if share else f"{value:,.0f}"


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        results: Annotated[
            Path | None,
            typer.Option(
                "--results",
                help="a saved run: the folder of `scomm simulate --parquet DIR` (else: run now)",
            ),
        ] = None,
        first: Annotated[str, typer.Option("--from", help="first month YYYY-MM")] = "2008-10",
        last: Annotated[str, typer.Option("--to", help="last month YYYY-MM")] = "2014-09",
        seed: Annotated[int, typer.Option("--seed")] = 1,
        runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs")] = 10,
        sample: Annotated[
            float, typer.Option("--sample", help="share of bookings simulated (weighted up)")
        ] = 1.0,
        workers: Annotated[
            int | None, typer.Option("--workers", help="processes (default: all cores)")
        ] = None,
        assumptions_file: Annotated[
            Path | None,
            typer.Option("--assumptions", help="a calibration file (default: the package's)"),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="write a PNG per series into this folder")
        ] = None,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="write every series and gap here")
        ] = None,
    ) -> None:
        """The national run beside ICE's detainer record (FOIA): by month, by year, by how
        detainers ended, and Pennsylvania county by county."""
        from scomm.errors import InputError
        from scomm.files import write_text_atomic
        from scomm.record.series import ModelSeries, compare, gaps_by_year, report_json

        console = Console()
        from scomm.simulation.assumptions import load_assumptions

        assumptions = load_assumptions(assumptions_file)
        if results is not None:
            # The prison door is not in the saved tables: it comes from --assumptions.
            model = ModelSeries.from_parquet(results, assumptions.practice)
            what = f"saved run {results} ({model.runs} run(s))"
        else:
            from scomm.simulation.engine import Options
            from scomm.simulation.national import Plan, simulate_plan
            from scomm.simulation.rates import measured_rates

            try:
                options = Options(sample=sample)
            except ValueError as exc:
                raise InputError("--sample", str(exc)) from None
            plan = Plan(
                first,
                last,
                seed,
                runs,
                (("baseline",),),
                assumptions,
                measured_rates(),
                options,
            )
            began = time.perf_counter()
            with console.status(f"{runs} national run(s), {first} to {last}"):
                ran = simulate_plan(plan, workers=workers)
            model = ModelSeries.from_runs(next(iter(ran.values())), assumptions.practice)
            what = (
                f"{runs} run(s) {first} to {last}, seed {seed}, sample {sample} "
                f"({time.perf_counter() - began:.0f} s)"
            )
        comparisons = compare(model)
        for c in comparisons:
            title = escape(f"{c.title} [{'fitted' if c.fitted else 'check'}]")
            if not math.isnan(c.within_share):
                title += f": {c.within_share:.0%} of periods within ±{c.tolerance:.0%}"
            table = Table(title=title, title_justify="left")
            for column in ("year", "record", "model", "90% interval", "gap", "within"):
                table.add_column(column, justify="right", overflow="fold")
            for g in gaps_by_year(c):
                interval = (
                    f"[{_fmt(g.low, c.share)}, {_fmt(g.high, c.share)}]"
                    if g.low is not None
                    else "-"
                )
                within = f"{g.within}/{g.periods}" if c.tolerance is not None else "-"
                gap = "-" if math.isnan(g.gap) else f"{g.gap:+.0%}"
                table.add_row(
                    g.year, _fmt(g.real, c.share), _fmt(g.model, c.share), interval, gap, within
                )
            console.print(table)
            console.print(
                f"  [dim]record: {c.real_series}; model: {' + '.join(c.model_outputs)}[/]",
                highlight=False,
            )
        console.print(f"model: {what}", highlight=False)
        if out is not None:
            from scomm.record.plots import plot_all

            written = plot_all(comparisons, out)
            console.print(f"{len(written)} plots in {out}")
        if json_path is not None:
            data = report_json(comparisons, model.runs)
            data["model"] = what
            write_text_atomic(json_path, json.dumps(data, indent=1))
