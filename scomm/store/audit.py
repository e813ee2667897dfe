"""The audit log: every read of a person's data, who read it and why, in a hash chain.

Each entry carries the hash of the entry before it (``prev_hash``) and its own
(``entry_hash``: SHA-256 over a canonical JSON of its place in the chain, reader, time, subject,
purpose and ``prev_hash``). An entry deleted or edited behind the application's back (through
``sqlite3`` or ``psql``, say, with the append-only triggers dropped first) breaks the chain at
that point, and :func:`verify_entries` says where.

A chain alone cannot show its newest entries deleted (what is left is a whole, shorter chain),
nor every entry from some point rewritten. What transparency logs do for this (Certificate
Transparency's signed tree heads, kept by monitors and witnesses; RFC 9162) is to have the head
kept *outside* the log: a :class:`Head` (``ENTRIES:HASH``, the entry count and the last entry's
hash) that ``scomm audit verify`` prints; given back later (``--expect-head``), the log must
still hold that entry with that hash, so a log cut back below it or rewritten up to it shows.
Whoever keeps the heads (a cron job mailing them, another machine) is the witness: a head
record kept in the same database would be cut back or rewritten with the log by the same
hand, and a signed one replayed from an older copy.

Appends take turns: on PostgreSQL an advisory lock (held to the end of the writing transaction)
serializes them, on SQLite ``BEGIN IMMEDIATE`` already makes the writer the only one; the
unique ``seq`` would refuse a fork even if they did not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text

from scomm.errors import InputError
from scomm.store.schema import PG_LOCK_AUDIT, audit_log

UTC = dt.UTC
GENESIS = "0" * 64  # the "previous hash" of the first entry
# Who reads: an account or program name, never free text (a newline or an escape sequence in a
# reader would forge or hide log lines wherever the log is shown).
READER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}")
MAX_SUBJECT = 64
MAX_PURPOSE = 500
VERIFY_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Read:
    """A read to record: who, whose data (a case id, or ``person:ID``), and why."""

    reader: str
    subject: str
    purpose: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An entry of the audit log as stored."""

    seq: int
    reader: str
    read_at: dt.datetime
    subject: str
    purpose: str
    prev_hash: str
    entry_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "reader": self.reader,
            "read_at": self.read_at.isoformat(),
            "subject": self.subject,
            "purpose": self.purpose,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


_HEAD = re.compile(r"(\d{1,18}):([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class Head:
    """A checkpoint of the chain: how many entries it held, and the hash of the last one."""

    entries: int
    entry_hash: str

    @classmethod
    def parse(cls, value: str) -> Head:
        """``ENTRIES:HASH`` as ``scomm audit verify`` prints it, or :class:`InputError`."""
        found = _HEAD.fullmatch(value.strip())
        if found is None:
            raise InputError(
                "--expect-head",
                f"{value[:100]!r} is not a head: ENTRIES:HASH, as `scomm audit verify` prints "
                "it (a count, a colon, 64 hex digits)",
            )
        return cls(int(found[1]), found[2])

    def __str__(self) -> str:
        return f"{self.entries}:{self.entry_hash}"


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What :func:`verify_entries` found: ``broken_at`` is the ``seq`` of the first entry that
    does not follow from the ones before it, or of a checkpoint's entry that is gone or
    different (``None`` if the chain is whole and extends every checkpoint given)."""

    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None
    chained: int | None = None  # entries that follow one from another (all, when None)

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    @property
    def head(self) -> Head:
        return Head(self.entries, self.head_hash)


def check_reader(reader: object) -> str:
    """``reader`` if it is a reader name (letters, digits and ``. _ @ : + -``, 1 to 128
    characters, starting with a letter or digit); otherwise :class:`InputError`."""
    if not isinstance(reader, str) or not READER_PATTERN.fullmatch(reader):
        raise InputError(
            "reader",
            f"{reader!r} is not a reader name: every read of a person's data is logged under "
            "one (1 to 128 letters, digits or . _ @ : + -, starting with a letter or digit)",
        )
    return reader


def check_read(read: Read) -> Read:
    check_reader(read.reader)
    if not isinstance(read.subject, str) or not read.subject:
        raise InputError("audit subject", f"{read.subject!r} is not a case or person id")
    if len(read.subject) > MAX_SUBJECT or _has_control(read.subject):
        raise InputError(
            "audit subject",
            f"{read.subject[:80]!r}: at most {MAX_SUBJECT} characters, none of them control "
            "characters",
        )
    if not isinstance(read.purpose, str):
        raise InputError("purpose", f"{read.purpose!r} is not text")
    if len(read.purpose) > MAX_PURPOSE or _has_control(read.purpose):
        raise InputError(
            "purpose",
            f"{read.purpose[:80]!r}: at most {MAX_PURPOSE} characters, none of them control "
            "characters (a newline included)",
        )
    return read


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def entry_hash(
    seq: int, reader: str, read_at: dt.datetime, subject: str, purpose: str, prev_hash: str
) -> str:
    """SHA-256 of the entry's canonical JSON (sorted keys, no spaces, UTC time to the
    microsecond), hex."""
    canonical = json.dumps(
        {
            "seq": seq,
            "reader": reader,
            "read_at": read_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "subject": subject,
            "purpose": purpose,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Chain:
    """The end of the chain as one write transaction sees it: taken (locked, on PostgreSQL)
    at its first append and kept until the transaction ends."""

    def __init__(self) -> None:
        self._tail: tuple[int, str] | None = None

    def rows(self, conn: Connection, reads: Sequence[Read]) -> list[dict[str, Any]]:
        """The rows that append ``reads`` to the chain, ready to insert in ``conn``'s
        transaction (which must insert them: the next call continues from them)."""
        if not reads:
            return []
        if self._tail is None:
            self._tail = tail(conn, lock=True)
        seq, prev = self._tail
        now = dt.datetime.now(UTC)
        out = []
        for r in reads:
            seq += 1
            digest = entry_hash(seq, r.reader, now, r.subject, r.purpose, prev)
            out.append({
                "seq": seq, "reader": r.reader, "read_at": now, "subject": r.subject,
                "purpose": r.purpose, "prev_hash": prev, "entry_hash": digest,
            })  # fmt: skip
            prev = digest
        self._tail = (seq, prev)
        return out


def tail(conn: Connection, *, lock: bool) -> tuple[int, str]:
    """``(seq, entry_hash)`` of the last entry (``(0, GENESIS)`` for none). ``lock``: on
    PostgreSQL, first take the chain's lock until the transaction ends, so that no other
    writer appends meanwhile (the tail is read after the wait, in a fresh snapshot)."""
    if lock and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": PG_LOCK_AUDIT})
    row = conn.execute(
        select(audit_log.c.seq, audit_log.c.entry_hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def entries(
    conn: Connection,
    *,
    subject: str | None = None,
    reader: str | None = None,
    after: int = 0,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries in chain order, filtered by subject and reader, from ``seq > after``."""
    query = select(
        audit_log.c.seq,
        audit_log.c.reader,
        audit_log.c.read_at,
        audit_log.c.subject,
        audit_log.c.purpose,
        audit_log.c.prev_hash,
        audit_log.c.entry_hash,
    ).order_by(audit_log.c.seq)
    if after:
        query = query.where(audit_log.c.seq > after)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    if reader is not None:
        query = query.where(audit_log.c.reader == reader)
    if limit is not None:
        query = query.limit(limit)
    return [AuditEntry(*tuple(row)) for row in conn.execute(query)]


def verify_entries(
    chunks: Iterable[Sequence[AuditEntry]], expect: Sequence[Head] = ()
) -> AuditCheck:
    """Walk the chain in order; the first entry that does not follow is where it breaks. Then
    each checkpoint in ``expect`` must be in the chain: its entry there, with its hash."""
    count = 0
    expected_seq, prev = 1, GENESIS
    wanted = {h.entries: h for h in expect if h.entries > 0}
    seen: dict[int, str] = {}
    for chunk in chunks:
        for e in chunk:
            count += 1
            if e.seq in wanted:
                seen[e.seq] = e.entry_hash
            if e.seq != expected_seq:
                missing = (
                    f"entry {expected_seq} is missing"
                    if e.seq == expected_seq + 1
                    else f"entries {expected_seq} to {e.seq - 1} are missing"
                )
                return AuditCheck(count, prev, e.seq, f"{missing}: deleted from the log", count - 1)
            if e.prev_hash != prev:
                return AuditCheck(
                    count,
                    prev,
                    e.seq,
                    f"its previous-entry hash is not entry {e.seq - 1}'s: an entry before it "
                    "was deleted, inserted or edited",
                    count - 1,
                )
            digest = entry_hash(e.seq, e.reader, e.read_at, e.subject, e.purpose, e.prev_hash)
            if digest != e.entry_hash:
                return AuditCheck(
                    count,
                    prev,
                    e.seq,
                    "its content does not match its hash: it was edited",
                    count - 1,
                )
            expected_seq, prev = e.seq + 1, e.entry_hash
    for head in sorted(wanted.values(), key=lambda h: h.entries):
        if head.entries not in seen:
            gone = (
                f"entry {head.entries} was"
                if head.entries == count + 1
                else f"entries {count + 1} to {head.entries} were"
            )
            return AuditCheck(
                count,
                prev,
                count + 1,
                f"the log holds {count} entries, the checkpoint {head} says it held "
                f"{head.entries}: {gone} deleted",
            )
        if seen[head.entries] != head.entry_hash:
            return AuditCheck(
                count,
                prev,
                head.entries,
                f"entry {head.entries}'s hash is not the checkpoint's ({head}): the log was "
                f"rewritten up to it",
            )
    return AuditCheck(count, prev)
