"""Reads of a person's record, and the audit log they leave: the web application's adapter
over the event store's access log.

Every read goes through :func:`read_case`, which reads through the store's logged read (the
log row is written in the reading transaction, under the account's name), so no page can show
a record without leaving its trace. When the store gains a hash-chained audit log with its own
API (``record_read`` / ``audit_entries``), these two functions are the places to point at it.
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
    rows = store.access_log(case_id)
    if reader is not None:
        rows = [r for r in rows if r["reader"] == reader]
    rows = rows[-limit:][::-1]
    return [
        {
            "id": r["id"],
            "reader": r["reader"],
            "read_at": r["read_at"].isoformat(),
            "case_id": r["case_id"],
            "purpose": r["purpose"],
        }
        for r in rows
    ]
