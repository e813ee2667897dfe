"""The flow's handlers: for each message, read the case state and the edge lookups it needs,
then call the agency's pure step.

A handler takes (case state, message, world) and returns a :class:`StepResult`; the runner
appends its events and sends its messages in one transaction. Every chance a step takes comes
from a generator of its own, fixed by (seed, case, purpose) (:func:`scomm.policies.flow.case_rng`),
so a run is the same whatever worker or order processes its cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scomm.agencies import cjis, court, ero, ident, jail, lea, lesc, sib
from scomm.agencies.base import Emit, Send, StepResult, parse_time
from scomm.people import Status
from scomm.pipeline.case import CaseState
from scomm.pipeline.world import World
from scomm.policies.decisions import RulesInForce
from scomm.policies.flow import case_rng


@dataclass(frozen=True)
class Message:
    case_id: str
    step: str
    at: dt.datetime
    payload: dict[str, Any]


Handler = Callable[[CaseState, Message, World], StepResult]


def _booking(state: CaseState) -> dict[str, Any]:
    if state.booking is None:
        raise ValueError(f"case {state.case_id}: no booking event")
    return state.booking


def _rules(state: CaseState, at: dt.datetime, world: World) -> RulesInForce:
    return world.rules.in_force(_booking(state)["county_fips"], at.date())


def _rng(world: World, state: CaseState, purpose: str) -> np.random.Generator:
    return case_rng(world.seed, state.case_id, purpose)


def _delays(world: World) -> Any:
    return world.practice.step_delays_minutes


def on_booking(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = {k: v for k, v in msg.payload.items() if k not in ("fingers", "at")}
    result = lea.book(booking, msg.at, _delays(world))
    # The prints travel with the messages (the transaction), not in the log.
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def _carry(send: Send, msg: Message) -> Send:
    return Send(send.step, send.at, {**send.payload, "fingers": msg.payload["fingers"]})


def on_sib_route(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = _booking(state)
    convicted = (booking.get("custody") or {}).get("reason") == "sentence_served"
    result = sib.route(
        booking["ori"],
        msg.at,
        world.activation_date(booking["county_fips"]),
        _rules(state, msg.at, world),
        _delays(world),
        convicted,
    )
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def on_cjis_search(state: CaseState, msg: Message, world: World) -> StepResult:
    fbi_number, score = world.search(
        "iafis", msg.payload["fingers"], f"case {state.case_id} CJIS probe"
    )
    rap = world.rap_sheets.get(fbi_number, []) if fbi_number else []
    result = cjis.answer_search(
        msg.at, fbi_number, score, rap, bool(msg.payload["forward_to_ident"]), _delays(world)
    )
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def on_ident_search(state: CaseState, msg: Message, world: World) -> StepResult:
    fin, score = world.search("ident", msg.payload["fingers"], f"case {state.case_id} IDENT probe")
    encounters = world.encounters.get(fin, []) if fin else []
    return ident.answer_search(msg.at, _booking(state), fin, score, encounters, _delays(world))


def on_lesc_respond(state: CaseState, msg: Message, world: World) -> StepResult:
    fin = msg.payload["fin"]
    record = world.status_records.get(fin, Status.UNDOCUMENTED)
    office = world.field_office_of(_booking(state)["county_fips"])
    return lesc.respond(msg.at, fin, record, office, state.results_reach_agency, _delays(world))


def on_ero_decide(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.iar is not None
    return ero.decide(
        msg.at,
        _booking(state),
        state.rap_sheet,
        state.iar,
        _rules(state, msg.at, world),
        world.practice,
        _rng(world, state, "ero.act"),
    )


def on_jail_screen(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = {
        **_booking(state),
        "field_office": world.field_office_of(_booking(state)["county_fips"]),
    }
    return ero.jail_screen(
        msg.at,
        booking,
        state.rap_sheet,
        _rules(state, msg.at, world),
        world.practice,
        _rng(world, state, "jail.screen"),
    )


def on_jail_detainer(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.detainer is not None
    return jail.receive_detainer(
        msg.at,
        _booking(state),
        state.rap_sheet,
        state.detainer,
        _rules(state, msg.at, world),
        world.practice,
        _rng(world, state, "ice.after_release"),
    )


def on_jail_release(state: CaseState, msg: Message, world: World) -> StepResult:
    if state.released_at is not None or state.hold_started_at is not None:
        return StepResult()  # a second release message for the same custody changes nothing
    return jail.release(
        msg.at,
        msg.payload.get("reason", "released"),
        _booking(state),
        state.answer,
        state.detainer,
        _rules(state, msg.at, world),
        world.practice,
        _rng(world, state, "ice.pickup" if state.answer else "ice.after_release"),
        wanted=state.detainer is not None and not state.wrongful_detainer,
    )


def on_pickup(state: CaseState, msg: Message, world: World) -> StepResult:
    return court.transfer(
        msg.at,
        _booking(state),
        state.hold_started_at,
        state.hold_expires_at,
        world.practice,
        msg.payload.get("route", "hold"),
        rng=_rng(world, state, "court.duration"),
    )


def on_hold_expire(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.hold_started_at is not None
    return jail.end_hold_at_expiry(
        msg.at,
        _booking(state),
        state.hold_started_at,
        _rules(state, msg.at, world),
        world.practice,
        _rng(world, state, "ice.after_release"),
    )


def on_arrest_at_large(state: CaseState, msg: Message, world: World) -> StepResult:
    return court.arrest_at_large(msg.at, world.practice, _rng(world, state, "court.duration"))


def on_proceedings(state: CaseState, msg: Message, world: World) -> StepResult:
    level = state.level or "non_criminal"
    return court.proceedings(msg.at, level, world.practice, _rng(world, state, "court"))


HANDLERS: dict[str, Handler] = {
    "booking": on_booking,
    "sib.route": on_sib_route,
    "cjis.search": on_cjis_search,
    "ident.search": on_ident_search,
    "lesc.respond": on_lesc_respond,
    "ero.decide": on_ero_decide,
    # The jail's screens where IDENT did not match (287(g) officers or CAP agents); the step
    # keeps its first name so that queues written before 287(g) still run.
    "ero.cap_screen": on_jail_screen,
    "jail.detainer": on_jail_detainer,
    "jail.release": on_jail_release,
    "ero.pickup": on_pickup,
    "hold.expire": on_hold_expire,
    "ero.arrest_at_large": on_arrest_at_large,
    "court.proceedings": on_proceedings,
}


def handle(state: CaseState, msg: Message, world: World) -> StepResult:
    try:
        handler = HANDLERS[msg.step]
    except KeyError:
        raise ValueError(f"case {msg.case_id}: no handler for step {msg.step!r}") from None
    return handler(state, msg, world)


__all__ = ["HANDLERS", "Message", "handle", "Emit", "parse_time"]
