"""When the database itself fails, not a task: a full disk, a server that stopped or restarted,
a file that cannot be opened. No task is at fault, so none is failed for it: the worker stops
with a clear error (a full disk), or waits for the server to come back and goes on (a lost
connection), and everything committed before stays; nothing half-written, since every write is
one transaction.
"""

from __future__ import annotations

import errno
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import DBAPIError

from scomm.errors import ScommError

Kind = Literal["disk full", "connection lost", "unusable"]

# PostgreSQL SQLSTATEs: 53100 disk_full, 53* insufficient resources; 08* connection exception;
# 57P01..57P03 the server shutting down, crashed or starting up.
_PG_DISK = ("53100",)
_PG_CONNECTION_PREFIXES = ("08", "57P01", "57P02", "57P03")
_SQLITE_FULL = 13
_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14
_SQLITE_READONLY = 8
# SQLite reports a disk with no room for its journal or shared-memory file as an I/O error,
# not SQLITE_FULL: under this much free space on the database's disk, that is the reason.
LOW_FREE_BYTES = 1 << 20


class StoreUnavailable(ScommError):
    """The event store cannot be written (or reached): not any task's fault."""


@dataclass(frozen=True)
class Outage:
    kind: Kind
    detail: str

    @property
    def retryable(self) -> bool:
        """A lost connection may come back (a server restart); a full disk does not by itself."""
        return self.kind == "connection lost"


def free_bytes(database: Path) -> int | None:
    """Free space on the disk holding ``database`` (a SQLite file), or None if unknown."""
    try:
        return shutil.disk_usage(database if database.is_dir() else database.parent).free
    except OSError:
        return None


def outage(exc: BaseException, database: Path | None = None) -> Outage | None:
    """What ``exc`` says about the database, or ``None`` if it is not the database's failure.
    ``database``: the SQLite file, whose disk is looked at when SQLite says only "disk I/O
    error"."""
    if isinstance(exc, StoreUnavailable):
        return None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Outage("disk full", exc.strerror or str(exc))
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    detail = " ".join(str(orig).split()) if orig is not None else str(exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_DISK:
            return Outage("disk full", detail)
        if sqlstate.startswith(_PG_CONNECTION_PREFIXES):
            return Outage("connection lost", detail)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return Outage("disk full", detail)
        if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN) and database is not None:
            free = free_bytes(database)
            if free is not None and free < LOW_FREE_BYTES:
                return Outage("disk full", f"{detail}, with {free:,} bytes free on its disk")
        if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN, _SQLITE_READONLY):
            return Outage("unusable", detail)
    if exc.connection_invalidated:
        return Outage("connection lost", detail)
    module = type(orig).__module__ if orig is not None else ""
    # psycopg raises a bare OperationalError (no SQLSTATE) when it cannot connect at all or the
    # server closed the connection.
    if (
        module.startswith("psycopg")
        and sqlstate is None
        and type(orig).__name__
        in (
            "OperationalError",
            "InterfaceError",
        )
    ):
        return Outage("connection lost", detail)
    if "No space left on device" in detail or "disk is full" in detail:
        return Outage("disk full", detail)
    return None


def unavailable(found: Outage, where: str) -> StoreUnavailable:
    """The error a user sees."""
    if found.kind == "disk full":
        return StoreUnavailable(
            f"the disk holding the event store at {where} is full ({found.detail}): nothing "
            "half-written is left, everything committed before is kept; free some space and "
            "run the same command again to go on"
        )
    if found.kind == "connection lost":
        return StoreUnavailable(
            f"lost the event store at {where} ({found.detail}): everything committed before is "
            "kept; run the same command again once the server is back"
        )
    return StoreUnavailable(f"the event store at {where} cannot be written ({found.detail})")
