"""What a step returns: events for the log and the next messages of the flow."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Emit:
    """An event to append to the case's log."""

    step: str
    actor: str
    at: dt.datetime
    payload: dict[str, Any]
    legal_basis: str


@dataclass(frozen=True)
class Send:
    """A message to the next step of the flow, due at simulated time ``at``."""

    step: str
    at: dt.datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    events: tuple[Emit, ...] = ()
    next: tuple[Send, ...] = ()


def draw(seed: int, case_id: str, name: str) -> float:
    """A uniform draw in [0, 1) fixed by (seed, case, purpose): the same whatever worker or
    order processes the case, so a run is reproducible."""
    digest = hashlib.blake2b(f"{seed}:{case_id}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
