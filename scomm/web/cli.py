"""``scomm serve`` (the web application) and ``scomm users`` (its accounts)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scomm.settings import database_url

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="event store URL: sqlite:///FILE (default) or postgresql://..."),
]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        port: Annotated[int, typer.Option("--port")] = 8000,
        host: Annotated[
            str, typer.Option("--host", help="127.0.0.1: this machine only; 0.0.0.0: all")
        ] = "127.0.0.1",
        db: DbOption = None,
        out: Annotated[
            Path, typer.Option("--out", help="cache, drafts and the session key go here")
        ] = Path("out/web"),
        first: Annotated[str, typer.Option("--from", help="national run: first month")] = "2008-10",
        last: Annotated[str, typer.Option("--to", help="national run: last month")] = "2014-09",
        seed: Annotated[int, typer.Option("--seed")] = 1,
        runs: Annotated[int, typer.Option("--runs", help="national run: Monte Carlo runs")] = 5,
        sample: Annotated[
            float, typer.Option("--sample", help="national run: share of bookings drawn")
        ] = 0.02,
        workers: Annotated[
            int,
            typer.Option(
                "--workers", min=1, help="server processes (they share jobs through --db)"
            ),
        ] = 1,
        https_only: Annotated[
            bool, typer.Option("--https-only", help="session cookie over TLS only (behind TLS)")
        ] = False,
    ) -> None:
        """The web application: the nation, counties, what-ifs, policies, cases (login)."""
        import uvicorn

        from scomm.web.app import WebConfig, create_app
        from scomm.web.simulate import NationalSettings

        config = WebConfig(
            db_url=db or database_url(),
            national=NationalSettings(first, last, seed, runs, sample),
            out_dir=out,
            https_only=https_only,
        )
        Console().print(
            f"scomm at http://{host}:{port}/ (API: /docs). The national baseline "
            f"({config.national.command()}) is computed in the background on the first start "
            f"and kept in {out}/cache.",
            highlight=False,
        )
        if workers == 1:
            uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
            return
        from scomm.web.app import CONFIG_VARIABLE, config_to_environment

        # uvicorn starts each worker from an import string: the config goes by environment.
        os.environ[CONFIG_VARIABLE] = config_to_environment(config)
        uvicorn.run(
            "scomm.web.app:app_from_environment", factory=True, workers=workers,
            host=host, port=port, log_level="warning",
        )  # fmt: skip

    users = typer.Typer(help="Accounts of the web application.", no_args_is_help=True)
    app.add_typer(users, name="users")

    @users.command("add")
    def users_add(
        username: Annotated[str, typer.Argument()],
        role: Annotated[
            str, typer.Option("--role", help="administrator, analyst or county")
        ] = "analyst",
        county: Annotated[
            str | None, typer.Option("--county", help="a county user's FIPS code")
        ] = None,
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="read the password from standard input")
        ] = False,
        db: DbOption = None,
    ) -> None:
        """Add an account (the password is asked, or read from SCOMM_PASSWORD or stdin)."""
        from scomm.store.events import EventStore
        from scomm.web.accounts import add_account

        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        elif os.environ.get("SCOMM_PASSWORD"):
            password = os.environ["SCOMM_PASSWORD"]
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        with EventStore.open(db or database_url()) as store:
            account = add_account(store, username, password, role, county)
        where = f", county {account.county}" if account.county else ""
        Console().print(f"account {account.username} added ({account.role}{where})")

    @users.command("list")
    def users_list(db: DbOption = None) -> None:
        """Every account and its role."""
        from scomm.store.events import EventStore
        from scomm.web.accounts import list_accounts

        with EventStore.open(db or database_url()) as store:
            accounts = list_accounts(store)
        table = Table(title=f"{len(accounts)} account(s)")
        for col in ("account", "role", "county"):
            table.add_column(col, overflow="fold")
        for a in accounts:
            table.add_row(a.username, a.role, a.county or "")
        Console().print(table)

    @users.command("remove")
    def users_remove(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
        """Remove an account (its reads stay in the audit log)."""
        from scomm.store.events import EventStore
        from scomm.web.accounts import remove_account

        with EventStore.open(db or database_url()) as store:
            remove_account(store, username)
        Console().print(f"account {username} removed")
