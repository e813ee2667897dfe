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
    "scomm.store.cli",
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
        _fail(str(exc), exc.exit_code)
    except Exception as exc:
        # What the machine did, not the user: a full disk, a server gone, a path that cannot
        # be written. Said in a line, never with a traceback or a database password.
        message = _environment_error(exc)
        if message is None:
            raise
        _fail(message, 2)


def _fail(message: str, code: int) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _environment_error(exc: Exception) -> str | None:
    """A line for an error of the environment (a file, the database), or ``None``."""
    if not isinstance(exc, OSError) and "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError

    from scomm.store.events import hide_password
    from scomm.store.outage import outage, unavailable

    if not isinstance(exc, OSError | DBAPIError):
        return None
    found = outage(exc)
    if isinstance(exc, DBAPIError):
        if found is not None:
            return str(unavailable(found, "the database"))
        detail = " ".join(str(exc.orig).split())
        # A driver's message may quote the connection string: mask any password in it.
        return hide_password(f"the event store failed: {detail}")
    where = exc.filename if exc.filename is not None else "a file"
    if found is not None:
        return f"{where}: the disk is full ({exc.strerror}): nothing half-written is left"
    return f"{where}: {exc.strerror or exc}"


if __name__ == "__main__":
    main()
