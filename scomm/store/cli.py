"""``scomm audit list`` and ``scomm audit verify``: who read whose data, and whether the audit
log's hash chain is whole."""

from __future__ import annotations

import json
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
    audit_app = typer.Typer(
        help="The audit log: every read of a person's data, in a hash chain.",
        no_args_is_help=True,
    )
    app.add_typer(audit_app, name="audit")

    @audit_app.command("list")
    def audit_list(
        db: DbOption = None,
        subject: Annotated[
            str | None, typer.Option("--subject", help="a case id, or person:ID")
        ] = None,
        reader: Annotated[str | None, typer.Option("--reader", help="who read")] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", min=1, help="at most this many, oldest first")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
    ) -> None:
        """Entries of the audit log, oldest first."""
        from scomm.store import EventStore

        with EventStore.open(db or database_url()) as store:
            found = store.audit_entries(subject=subject, reader=reader, limit=limit)
        if as_json:
            for e in found:
                typer.echo(json.dumps(e.to_json()))
            return
        table = Table(title=f"Audit log: {len(found)} entries")
        for col in ("#", "read at (UTC)", "reader", "subject", "purpose"):
            table.add_column(col, overflow="fold")
        for e in found:
            table.add_row(
                str(e.seq),
                e.read_at.isoformat(timespec="seconds")[:19].replace("T", " "),
                e.reader,
                e.subject,
                e.purpose,
            )
        Console().print(table)

    @audit_app.command("verify")
    def audit_verify(
        db: DbOption = None,
        expect_head: Annotated[
            list[str] | None,
            typer.Option(
                "--expect-head",
                help="a head printed by an earlier verify (ENTRIES:HASH, kept outside the "
                "database): the log must still hold that entry with that hash (repeat for more)",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    ) -> None:
        """Check the hash chain from its first entry to its last, and that it extends every
        head given: exit 0 if so, 1 with the first entry that does not follow from the ones
        before it (or the checkpoint it does not extend). Keep the head it prints elsewhere:
        the chain alone cannot show its newest entries deleted."""
        from scomm.store import EventStore
        from scomm.store.audit import Head

        heads = [Head.parse(h) for h in expect_head or []]
        with EventStore.open(db or database_url()) as store:
            check = store.verify_audit(heads)
            where = store.where
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "store": where,
                        "intact": check.intact,
                        "entries": check.entries,
                        "head": str(check.head),
                        "broken_at": check.broken_at,
                        "problem": check.problem,
                        "checkpoints": [str(h) for h in heads],
                    }
                )  # fmt: skip
            )
            if not check.intact:
                raise typer.Exit(1)
            return
        if check.intact:
            extends = f", extends {len(heads)} checkpoint(s)" if heads else ""
            typer.echo(
                f"audit log of {where}: {check.entries} entries, chain intact{extends}; head "
                f"{check.head}\n(keep the head outside the database: `scomm audit verify "
                "--expect-head HEAD` later shows entries deleted or rewritten since)"
            )
            return
        chained = (
            f"{check.chained} entries before it check out"
            if check.chained is not None
            else f"the chain of its {check.entries} entries is whole"
        )
        Console(stderr=True).print(
            f"[bold red]audit log of {where} broken at entry {check.broken_at}:[/] "
            f"{check.problem} ({chained})",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
