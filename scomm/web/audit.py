"""Reads of a person's record, and the audit log they leave: the web application's side of
the event store's hash-chained audit log (``scomm.store.audit``).

Every read goes through :func:`read_case`, which reads through the store's logged read (the
log entry is written in the reading transaction, under the account's name), so no page can show
a record without leaving its trace.
"""

from __future__ import annotations

from typing import Any

from scomm.store.events import Event, EventStore
from scomm.web.accounts import Account


def read_case(store: EventStore, case_id: str, account: Account, purpose: str) -> list[Event]:
    """The case's events, the read logged under the account."""
    return store.events(case_id, reader=account.reader, purpose=purpose)


def audit_entries(
    store: EventStore, *, reader: str | None = None, case_id: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The newest ``limit`` reads (newest first), optionally of one reader or one case."""
    rows = store.audit_entries(subject=case_id, reader=reader)[-limit:][::-1]
    return [
        {
            "id": r.seq,
            "reader": r.reader,
            "read_at": r.read_at.isoformat(),
            "case_id": r.subject,
            "purpose": r.purpose,
            "entry_hash": r.entry_hash,
        }
        for r in rows
    ]
