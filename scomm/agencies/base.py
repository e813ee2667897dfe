"""What a step returns: events for the log and the next messages of the flow."""

from __future__ import annotations

import datetime as dt
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


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
