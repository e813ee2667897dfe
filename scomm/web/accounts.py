"""Accounts of the web application: an administrator, analysts (every aggregate page and
every case), and county users who may open the case records of their own county only.

Passwords are hashed with Argon2 (pwdlib's recommended hasher); the accounts live in the
event store's database, in a table of their own. Failed logins are limited per account name
and per client address (:class:`LoginLimiter`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal, cast

from pwdlib import PasswordHash
from sqlalchemy import Column, DateTime, Float, Index, MetaData, String, Table, select

from scomm.errors import InputError
from scomm.store.events import EventStore
from scomm.store.schema import create_tables

Role = Literal["administrator", "analyst", "county"]
ROLES: tuple[Role, ...] = ("administrator", "analyst", "county")
MIN_PASSWORD_LENGTH = 10

metadata = MetaData()

web_accounts = Table(
    "web_accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("county", String(5), nullable=True),  # the county user's jurisdiction
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_hasher = PasswordHash.recommended()
# Checked when the account does not exist, so that a wrong name costs as long as a wrong
# password (no telling which names exist by timing).
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    county: str | None = None

    @property
    def reader(self) -> str:
        """The name this account reads under in the access log."""
        return f"web:{self.username}"

    def may_read_case(self, case_county: str) -> bool:
        if self.role in ("administrator", "analyst"):
            return True
        return self.county == case_county

    def to_json(self) -> dict[str, str | None]:
        return {"username": self.username, "role": self.role, "county": self.county}


def _ensure(store: EventStore) -> None:
    with store.connection(write=True) as conn:
        create_tables(conn, metadata)


def check_new_account(username: str, password: str, role: str, county: str | None) -> None:
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise InputError("username", f"{username!r}: 1-64 letters, digits or . _ - @")
    if role not in ROLES:
        raise InputError("--role", f"{role!r}: one of {', '.join(ROLES)}")
    if role == "county" and not (county and county.isdigit() and len(county) == 5):
        raise InputError("--county", "a county user needs the 5-digit FIPS code of its county")
    if role != "county" and county:
        raise InputError("--county", f"only county users have a county, not {role}s")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError("password", f"at least {MIN_PASSWORD_LENGTH} characters")


def add_account(
    store: EventStore, username: str, password: str, role: str, county: str | None = None
) -> Account:
    check_new_account(username, password, role, county)
    _ensure(store)
    with store.connection(write=True) as conn:
        exists = conn.execute(
            select(web_accounts.c.username).where(web_accounts.c.username == username)
        ).first()
        if exists:
            raise InputError(f"account {username}", "already exists (remove it first)")
        conn.execute(
            web_accounts.insert().values(
                username=username,
                password_hash=_hasher.hash(password),
                role=role,
                county=county,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return Account(username, cast(Role, role), county)


def list_accounts(store: EventStore) -> list[Account]:
    _ensure(store)
    with store.connection(write=False) as conn:
        rows = conn.execute(select(web_accounts).order_by(web_accounts.c.username)).all()
    return [Account(r.username, r.role, r.county) for r in rows]


def remove_account(store: EventStore, username: str) -> None:
    _ensure(store)
    with store.connection(write=True) as conn:
        result = conn.execute(web_accounts.delete().where(web_accounts.c.username == username))
    if result.rowcount == 0:
        raise InputError(f"account {username}", "no such account")


def get_account(store: EventStore, username: str) -> Account | None:
    _ensure(store)
    with store.connection(write=False) as conn:
        row = conn.execute(select(web_accounts).where(web_accounts.c.username == username)).first()
    return Account(row.username, row.role, row.county) if row else None


def authenticate(store: EventStore, username: str, password: str) -> Account | None:
    _ensure(store)
    with store.connection(write=False) as conn:
        row = conn.execute(select(web_accounts).where(web_accounts.c.username == username)).first()
    if row is None:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    if not _hasher.verify(password, row.password_hash):
        return None
    return Account(row.username, row.role, row.county)


web_login_failures = Table(
    "web_login_failures",
    metadata,
    Column("key", String(200), nullable=False),  # u:NAME or c:ADDRESS
    Column("at", Float, nullable=False),  # seconds since the epoch
    Index("web_login_failures_key", "key", "at"),
)


class LoginLimiter:
    """At most ``attempts`` failed logins per account name, and per client address, in any
    ``window_s`` seconds; past that, logins are refused until the oldest failure ages out.
    The failures are rows of the store's database, so every server process (``--workers``)
    counts the same ones."""

    def __init__(self, store: EventStore, attempts: int = 5, window_s: float = 900.0) -> None:
        self.store = store
        self.attempts = attempts
        self.window_s = window_s
        _ensure(store)

    def _keys(self, username: str, client: str) -> tuple[str, str]:
        return (f"u:{username}"[:200], f"c:{client}"[:200])

    def retry_after(self, username: str, client: str) -> float:
        """Seconds until a login may be tried again (0: now)."""
        now = time.time()
        waits = []
        with self.store.connection(write=False) as conn:
            for key in self._keys(username, client):
                recent = (
                    conn.execute(
                        select(web_login_failures.c.at)
                        .where(
                            web_login_failures.c.key == key,
                            web_login_failures.c.at > now - self.window_s,
                        )
                        .order_by(web_login_failures.c.at)
                    )
                    .scalars()
                    .all()
                )
                if len(recent) >= self.attempts:
                    waits.append(self.window_s - (now - recent[0]))
        return max(waits, default=0.0)

    def failed(self, username: str, client: str) -> None:
        now = time.time()
        with self.store.connection(write=True) as conn:
            conn.execute(
                web_login_failures.insert(),
                [{"key": key, "at": now} for key in self._keys(username, client)],
            )
            # Failures past the window count for nothing: dropped as new ones come.
            conn.execute(
                web_login_failures.delete().where(web_login_failures.c.at < now - self.window_s)
            )

    def succeeded(self, username: str) -> None:
        with self.store.connection(write=True) as conn:
            conn.execute(
                web_login_failures.delete().where(web_login_failures.c.key == f"u:{username}"[:200])
            )
