"""``scomm run``, ``scomm book``, ``scomm release``, ``scomm case`` and ``scomm world``: the
pipeline's commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scomm.errors import InputError, TaskFailed
from scomm.files import write_text_atomic
from scomm.settings import database_url

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="event store URL: sqlite:///FILE (default) or postgresql://..."),
]
ReaderOption = Annotated[
    str,
    typer.Option(
        "--reader",
        help="who reads the personal data (logged in the audit log): a name of letters, "
        "digits and . _ @ : + -",
    ),
]
WorldOption = Annotated[
    Path | None,
    typer.Option(
        "--world",
        help="directory of a saved world (IAFIS/IDENT galleries and records) made by "
        "`scomm run --world`",
    ),
]


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(name, f"{value!r} is not a date YYYY-MM-DD") from None


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        county: Annotated[str, typer.Option("--county", help="county FIPS, 5 digits")],
        days: Annotated[int, typer.Option("--days", min=1, max=3660, help="days of bookings")] = 7,
        seed: Annotated[int, typer.Option("--seed", help="seed of every random draw")] = 1,
        start: Annotated[str, typer.Option("--start", help="first booking day")] = "2013-06-01",
        db: DbOption = None,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="write the figures here")
        ] = None,
        gallery_size: Annotated[
            int, typer.Option("--gallery-size", min=0, help="subjects in IDENT and IAFIS")
        ] = 10_000,
        workers: Annotated[
            int,
            typer.Option(
                "--workers",
                min=1,
                max=64,
                help="worker threads sharing the queue (each searches ahead while another writes)",
            ),
        ] = 2,
        population: Annotated[
            int | None, typer.Option("--population", help="override the county population")
        ] = None,
        world: Annotated[
            Path | None,
            typer.Option(
                "--world",
                help="save the world built (galleries, records, bookings) in this directory, "
                "or reuse the one already there",
            ),
        ] = None,
        scenario: Annotated[
            list[str] | None,
            typer.Option(
                "--scenario",
                # escaped: Rich would take [@PLACE] for a style and drop it
                help=escape(
                    "run under a what-if overlay: NAME[@PLACE][:DATE] or FILE.yaml (repeat, "
                    "or join with +); see `scomm scenarios`"
                ),
            ),
        ] = None,
    ) -> None:
        """Synthetic bookings in one county, pushed through the whole pipeline."""
        from scomm.pipeline.runner import run_county

        if not (county.isdigit() and len(county) == 5):
            raise InputError("--county", f"{county!r} is not a 5-digit county FIPS code")
        console = Console()
        figures = run_county(
            county_fips=county,
            start=_date(start, "--start"),
            days=days,
            seed=seed,
            url=db or database_url(),
            gallery_size=gallery_size,
            workers=workers,
            population=population,
            console=console,
            world_dir=world,
            scenario=scenario or [],
        )
        console.print(summary_table(figures))
        console.print(outcome_examples(figures["cases"], figures["run_id"]))
        if json_path:
            _write_json(json_path, figures)
            console.print(f"figures and every case id with its outcome written to {json_path}")

    @app.command("cases")
    def cases(
        run_id: Annotated[str, typer.Option("--run", help="run id, as `scomm run` printed it")],
        outcome: Annotated[
            str | None,
            typer.Option("--outcome", help="only cases of this outcome (e.g. detainer_honored)"),
        ] = None,
        db: DbOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        reader: Annotated[
            str, typer.Option("--reader", help="who reads the records (logged)")
        ] = "cli",
    ) -> None:
        """A run's cases with their outcome (each case read is logged under --reader)."""
        from scomm.outputs import label
        from scomm.pipeline.outcomes import OUTCOMES, outcome_of
        from scomm.pipeline.runner import case_states
        from scomm.pipeline.runs import get_run
        from scomm.store import EventStore

        if outcome is not None and outcome not in OUTCOMES:
            raise InputError("--outcome", f"{outcome!r}: use one of {', '.join(OUTCOMES)}")
        with EventStore.open(db or database_url()) as store:
            run = get_run(store, run_id)
            states = case_states(store, run.case_ids, reader, "case list")
        rows = [
            {"case_id": s.case_id, "outcome": outcome_of(s)}
            for s in states
            if outcome is None or outcome_of(s) == outcome
        ]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title=f"Run {run_id}: {len(rows)} case(s)")
        table.add_column("case id", overflow="fold")
        table.add_column("outcome", overflow="fold")
        for r in rows:
            table.add_row(r["case_id"], label(r["outcome"]))
        Console().print(table)

    @app.command("case")
    def case(
        case_id: Annotated[
            str, typer.Argument(help="case id, as `scomm run` or `scomm book` printed it")
        ],
        db: DbOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        reader: ReaderOption = "cli",
    ) -> None:
        """A case's timeline: every step with its time, actor and legal basis."""
        from scomm.pipeline.runner import timeline

        events = timeline(db or database_url(), case_id, reader)
        if as_json:
            typer.echo(json.dumps(events, indent=2, default=str))
            return
        table = Table(title=f"Case {case_id}", show_lines=False)
        for col in ("time (UTC)", "step", "actor", "legal basis"):
            table.add_column(col, overflow="fold")
        for e in events:
            table.add_row(
                e["occurred_at"][:16].replace("T", " "), e["step"], e["actor"], e["legal_basis"]
            )
        Console().print(table)

    @app.command("book")
    def book(
        files: Annotated[list[Path], typer.Argument(help="ANSI/NIST-ITL transaction files (.an2)")],
        county: Annotated[str, typer.Option("--county", help="county FIPS of the booking jail")],
        db: DbOption = None,
        world: WorldOption = None,
    ) -> None:
        """Book people from ANSI/NIST-ITL transactions and run their cases as far as they go."""
        from scomm.pipeline.runner import book_files

        console = Console()
        if world is None:
            Console(stderr=True).print(
                "[yellow]warning:[/] no --world given: the IAFIS and IDENT galleries are empty, "
                "so no booking can match anyone (save one with `scomm run ... --world DIR`)",
                highlight=False,
                soft_wrap=True,
            )
        outcome = book_files(files, county, db or database_url(), console, world)
        for case_id, path in outcome.accepted:
            console.print(f"[green]booked[/] {path} as case {case_id}", highlight=False)
        for case_id, path in outcome.already:
            console.print(
                f"[yellow]already booked[/] {path}: the same transaction is case {case_id}; "
                "nothing done",
                highlight=False,
            )
        for path, problem in outcome.refused:
            console.print(f"[red]refused[/] {path}: {problem}", highlight=False, soft_wrap=True)
        if outcome.failed:
            from scomm.pipeline.runner import failure_message

            raise TaskFailed(f"booked, but a step failed: {failure_message(outcome.failed)}")
        if outcome.refused:
            console.print(f"[red]{len(outcome.refused)} of {len(files)} file(s) refused[/]")
            raise typer.Exit(2)

    @app.command("release")
    def release(
        case_id: Annotated[str, typer.Argument()],
        reason: Annotated[
            str, typer.Option("--reason", help="bail, dismissal, acquittal or sentence_served")
        ],
        at: Annotated[str | None, typer.Option("--at", help="ISO time (default: now)")] = None,
        db: DbOption = None,
    ) -> None:
        """The court's word: the person would now be released. The jail acts on any detainer."""
        from scomm.pipeline.runner import release_case

        if reason not in ("bail", "dismissal", "acquittal", "sentence_served"):
            raise InputError(
                "--reason", f"{reason!r}: use bail, dismissal, acquittal or sentence_served"
            )
        try:
            when = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
        except ValueError:
            raise InputError("--at", f"{at!r} is not an ISO date-time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        release_case(db or database_url(), case_id, reason, when)
        Console().print(f"case {case_id}: release ({reason}) at {when.isoformat()} processed")

    world_app = typer.Typer(
        help="Saved worlds (`scomm run --world DIR`): their people and their transactions.",
        no_args_is_help=True,
    )
    app.add_typer(world_app, name="world")

    @world_app.command("people")
    def world_people(
        directory: Annotated[Path, typer.Argument(help="world directory")],
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        reader: ReaderOption = "cli",
        db: DbOption = None,
    ) -> None:
        """The people booked in a saved world, with their IAFIS and IDENT record ids (the read
        of each is logged in the event store's audit log)."""
        from scomm.pipeline.saved_world import load_world
        from scomm.store.audit import check_reader

        check_reader(reader)
        saved = load_world(directory)
        _record_reads(
            db,
            reader,
            [f"person:{p.person_id}" for p in saved.people],
            f"world people listing of {directory.resolve()}",
        )
        rows = [
            {
                "person_id": p.person_id,
                "name": p.payload["name"],
                "booked_at": p.booked_at.isoformat(),
                "fbi_number": p.fbi_number,
                "fin": p.fin,
            }
            for p in saved.people
        ]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title=f"People booked in {directory}")
        for col in ("person", "name", "booked (UTC)", "IAFIS", "IDENT"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["person_id"],
                r["name"],
                r["booked_at"][:16].replace("T", " "),
                r["fbi_number"] or "-",
                r["fin"] or "-",
            )
        Console().print(table)

    @world_app.command("export-booking")
    def world_export_booking(
        directory: Annotated[Path, typer.Argument(help="world directory")],
        person: Annotated[str, typer.Option("--person", help="person id (`scomm world people`)")],
        out: Annotated[Path, typer.Option("--out", help="ANSI/NIST-ITL file to write (.an2)")],
        capture: Annotated[
            int, typer.Option("--capture", min=0, help="which fresh capture of the prints")
        ] = 0,
        reader: ReaderOption = "cli",
        db: DbOption = None,
    ) -> None:
        """Write a ten-print transaction of a person in a saved world: a fresh capture of their
        prints (not the one on record), ready for `scomm book --world`. The file is its
        owner's only (0600); the read is logged in the event store's audit log."""
        from scomm.forms.nist import write_transaction_file
        from scomm.pipeline.saved_world import export_submission, load_world
        from scomm.store.audit import check_reader

        check_reader(reader)
        if out.is_dir():
            raise InputError("--out", f"{out} is a directory: give the .an2 file to write")
        saved = load_world(directory)
        saved.person(person)  # an unknown person is refused before anything is logged
        _record_reads(
            db, reader, [f"person:{person}"], f"export-booking from {directory.resolve()}"
        )
        sub = export_submission(saved, person, capture)
        write_transaction_file(sub, out)
        Console().print(
            f"transaction {sub.transaction_control_number} of {person} written to {out}",
            highlight=False,
        )


def _record_reads(db: str | None, reader: str, subjects: list[str], purpose: str) -> None:
    """Log reads of people's data in the event store's audit log, before showing them."""
    from scomm.store import EventStore

    with EventStore.open(db or database_url()) as store:
        store.record_reads(reader, subjects, purpose)


def outcome_examples(cases: dict[str, str], run_id: str, per_outcome: int = 3) -> Table:
    """A few case ids of each outcome, to open with `scomm case ID`."""
    from scomm.outputs import label
    from scomm.pipeline.outcomes import OUTCOMES

    table = Table(
        title=f"Run {run_id}: cases to open with `scomm case ID`",
        caption=f"all of them: scomm cases --run {run_id} [--outcome NAME]",
    )
    table.add_column("outcome", overflow="fold")
    table.add_column("cases", justify="right", overflow="fold")
    table.add_column("e.g.", overflow="fold")
    for name in OUTCOMES:
        ids = [c for c, o in cases.items() if o == name]
        if ids:
            table.add_row(label(name), f"{len(ids):,}", " ".join(ids[:per_outcome]))
    return table


def summary_table(figures: dict[str, Any]) -> Table:
    from scomm.outputs import OUTPUTS, PIPELINE_ONLY, term

    table = Table(title=figures.get("title", "Run summary"))
    table.add_column("figure", overflow="fold")
    table.add_column("count", justify="right", overflow="fold")
    for key in (*OUTPUTS, *PIPELINE_ONLY):
        words = term(key)
        value = figures["counts"].get(key, 0)
        indent = "  " if words.part_of else ""
        table.add_row(
            indent + words.label, f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
        )
    return table


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str))
