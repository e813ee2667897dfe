"""``scomm policy check``: validate policy files, naming the line of each error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scomm.errors import PolicyError


def _known_fips() -> tuple[object, str]:
    """The FIPS check from the jurisdictions data, or None (with why) where it is absent."""
    try:
        from scomm.jurisdictions.counties import load_jurisdictions

        jurisdictions = load_jurisdictions()
    except Exception as exc:  # no data directory: check everything else, say what was skipped
        return None, f"FIPS codes not checked ({exc})"
    return jurisdictions.known_fips, "FIPS codes checked against the Census county list"


def register(app: typer.Typer) -> None:
    policy = typer.Typer(
        help="Detainer policies and federal regimes as dated YAML.", no_args_is_help=True
    )
    app.add_typer(policy, name="policy")

    @policy.command("check")
    def check(
        files: Annotated[list[Path], typer.Argument(help="policy YAML files", show_default=False)],
    ) -> None:
        """Validate policy files; name the file and line of every error."""
        from scomm.policies.load import load_policy_file

        console = Console()
        known, note = _known_fips()
        refused: list[PolicyError] = []
        for path in files:
            try:
                parsed = load_policy_file(path, known)  # type: ignore[arg-type]
            except PolicyError as exc:
                refused.append(exc)
                console.print(f"[red]refused[/] {exc}", highlight=False, soft_wrap=True)
                continue
            console.print(f"[green]ok[/] {path}: {parsed.name}, {len(parsed.periods)} period(s)")
        console.print(f"[dim]{note}[/]")
        if refused:
            console.print(f"[red]{len(refused)} of {len(files)} file(s) refused[/]")
            raise typer.Exit(2)
