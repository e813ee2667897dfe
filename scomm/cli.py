"""The ``scomm`` command line.

Each part of the system contributes its own commands through a ``register(app)`` function in
its ``cli`` module; heavy imports stay inside the command bodies so that ``scomm --help`` is fast.
Every :class:`~scomm.errors.ScommError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from scomm.errors import ScommError

app = typer.Typer(
    name="scomm",
    help="Secure Communities, open and runnable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each of these modules defines ``register(app: typer.Typer) -> None``.
_COMMAND_MODULES = (
    "scomm.pipeline.cli",
    "scomm.policies.cli",
    "scomm.biometrics.cli",
    "scomm.jurisdictions.cli",
    "scomm.simulation.cli",
    "scomm.record.cli",
    "scomm.web.cli",
)

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a part not built yet must not break the others
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the app and turn user errors into exit code 2."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="scomm")
    except ScommError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
