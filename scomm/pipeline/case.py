"""A case's current state, derived from its events (the log is the truth; this is a view)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class EventLike(Protocol):
    @property
    def step(self) -> str: ...
    @property
    def occurred_at(self) -> dt.datetime: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass
class CaseState:
    case_id: str
    booking: dict[str, Any] | None = None
    secure_communities: str | None = None
    results_reach_agency: bool = True
    cjis: dict[str, Any] | None = None
    ident: dict[str, Any] | None = None
    iar: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    detainer: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None
    wrongful_detainer: bool = False
    cap_interview: bool = False
    g287_screening: bool = False
    interviewed: bool = False  # ERO interviewed a matched person
    hold_started_at: dt.datetime | None = None
    hold_expires_at: dt.datetime | None = None
    # Every limit the hold was under, (hours, weekends and holidays excluded), and the jail's
    # zone: what the over-hold counter checks the hold against on its own.
    hold_limits: list[tuple[float, bool]] = field(default_factory=list)
    hold_zone: str | None = None
    hold_ended_at: dt.datetime | None = None
    hold_end_reason: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    released_at: dt.datetime | None = None
    transferred_at: dt.datetime | None = None
    transfer_route: str | None = None  # "hold" (pickup during a hold) or "release" (at the door)
    arrested_at_large_at: dt.datetime | None = None
    outcome: dict[str, Any] | None = None
    last_at: dt.datetime | None = None
    steps: list[str] = field(default_factory=list)

    @property
    def rap_sheet(self) -> list[dict[str, Any]]:
        return list(self.cjis["rap_sheet"]) if self.cjis else []

    @property
    def level(self) -> str | None:
        """ICE's level by convictions: what a removal is counted under."""
        return (
            self.decision.get("conviction_level", self.decision["level"]) if self.decision else None
        )

    def apply(self, event: EventLike) -> CaseState:
        """Fold one event into the state."""
        p, at = event.payload, event.occurred_at
        self.steps.append(event.step)
        self.last_at = at
        match event.step:
            case "booking":
                self.booking = p
            case "sib.routed":
                self.secure_communities = p["secure_communities"]
                self.results_reach_agency = p["results_reach_agency"]
            case "cjis.response":
                self.cjis = p
            case "ident.response":
                self.ident = p
            case "lesc.iar":
                self.iar = p
            case "ero.decision":
                self.decision = p
            case "ero.cap_interview":
                self.cap_interview = True
            case "g287.screening":
                self.g287_screening = True
            case "ero.interview":
                self.interviewed = True
            case "detainer.issued":
                self.detainer = p
            case "detainer.stopped":
                self.wrongful_detainer = True
            case "jail.detainer_answer":
                self.answer = p
            case "hold.started":
                self.hold_started_at = at
                self.hold_expires_at = dt.datetime.fromisoformat(p["hold_expires_at"])
                # Logs written before the clock kept local days carry one limit and no zone.
                limits = p["limits"] if "limits" in p else [[p["limit_hours"], True]]
                self.hold_limits = [(float(h), bool(e)) for h, e in limits]
                self.hold_zone = p.get("time_zone")
            case "hold.ended":
                self.hold_ended_at = at
                self.hold_end_reason = p["reason"]
                if self.hold_expires_at is not None and at > self.hold_expires_at:
                    raise ValueError(
                        f"case {self.case_id}: hold ended {at}, past its limit {self.hold_expires_at}"
                    )
            case "contact.notified":
                self.notifications.append(p)
            case "released":
                self.released_at = at
            case "transfer":
                self.transferred_at = at
                self.transfer_route = p.get("route", "hold")
            case "ice.arrest_at_large":
                self.arrested_at_large_at = at
            case "outcome":
                self.outcome = p
        return self


def fold(case_id: str, events: Iterable[EventLike]) -> CaseState:
    state = CaseState(case_id)
    for event in events:
        state.apply(event)
    return state
