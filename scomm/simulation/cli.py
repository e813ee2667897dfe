"""``scomm simulate``: the whole country through the same rules, month by month."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        first: Annotated[str, typer.Option("--from", help="first month YYYY-MM")] = "2008-10",
        last: Annotated[str, typer.Option("--to", help="last month YYYY-MM")] = "2014-09",
        seed: Annotated[int, typer.Option("--seed")] = 1,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="write the totals here")
        ] = None,
        parquet: Annotated[
            Path | None, typer.Option("--parquet", help="county x month outputs")
        ] = None,
        safeguards: Annotated[
            bool, typer.Option("--safeguards/--historical", help="citizenship check at the jail")
        ] = False,
    ) -> None:
        """Every booking in every county, month by month (no scenarios or calibration yet)."""
        from rich.progress import Progress

        from scomm.errors import InputError
        from scomm.simulation.engine import Options
        from scomm.simulation.national import months
        from scomm.simulation.national import simulate as run

        try:
            n_months = len(months(first, last))
        except ValueError as exc:
            raise InputError("--from/--to", str(exc)) from None
        console = Console()
        with Progress(console=console) as bar:
            task = bar.add_task("months", total=n_months)
            result = run(
                first,
                last,
                seed,
                Options(safeguards=safeguards),
                progress=lambda i, n: bar.update(task, completed=i),
            )
        totals = result.totals()
        table = Table(title=f"United States, {first} to {last} (seed {seed})")
        table.add_column("output")
        table.add_column("total", justify="right")
        for name, value in totals.items():
            table.add_row(name, f"{value:,.0f}")
        console.print(table)
        if json_path:
            json_path.write_text(
                json.dumps({"from": first, "to": last, "seed": seed, "totals": totals}, indent=2)
            )
        if parquet:
            result.frame.write_parquet(parquet)
