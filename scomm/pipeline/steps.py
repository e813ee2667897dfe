"""The flow's handlers: for each message, read the case state and the edge lookups it needs,
then call the agency's pure step.

A handler takes (case state, message, world) and returns a :class:`StepResult`; the runner
appends its events and sends its messages in one transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scomm.agencies import cjis, court, ero, ident, jail, lea, lesc, sib
from scomm.agencies.base import Emit, StepResult, draw, parse_time
from scomm.biometrics.template import Template
from scomm.errors import InputError
from scomm.people import Status
from scomm.pipeline.case import CaseState
from scomm.pipeline.world import World
from scomm.policies.decisions import rules_in_force


@dataclass(frozen=True)
class Message:
    case_id: str
    step: str
    at: dt.datetime
    payload: dict[str, Any]


Handler = Callable[[CaseState, Message, World], StepResult]


def encode_fingers(fingers: dict[int, Template]) -> dict[str, str]:
    from scomm.biometrics.formats import to_bytes

    return {str(f): base64.b64encode(to_bytes(t)).decode() for f, t in fingers.items()}


def decode_fingers(encoded: dict[str, str], where: str) -> dict[int, Template]:
    from scomm.biometrics.formats import from_bytes

    out = {}
    for f, b in encoded.items():
        try:
            position, data = int(f), base64.b64decode(b, validate=True)
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
            raise InputError(where, f"finger {f!r}: not a base64 template ({exc})") from None
        out[position] = from_bytes(data, f"{where}, finger {f}")
    return out


def _booking(state: CaseState) -> dict[str, Any]:
    if state.booking is None:
        raise ValueError(f"case {state.case_id}: no booking event")
    return state.booking


def _rules(state: CaseState, at: dt.datetime) -> Any:
    return rules_in_force(_booking(state)["county_fips"], at.date())


def on_booking(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = {k: v for k, v in msg.payload.items() if k not in ("fingers", "at")}
    result = lea.book(booking, msg.at)
    # The prints travel with the messages (the transaction), not in the log.
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def _carry(send: Any, msg: Message) -> Any:
    from scomm.agencies.base import Send

    return Send(send.step, send.at, {**send.payload, "fingers": msg.payload["fingers"]})


def on_sib_route(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = _booking(state)
    result = sib.route(
        booking["ori"], msg.at, world.activation_date(booking["county_fips"]), _rules(state, msg.at)
    )
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def on_cjis_search(state: CaseState, msg: Message, world: World) -> StepResult:
    fbi_number, score = world.search(
        "iafis", msg.payload["fingers"], f"case {state.case_id} CJIS probe"
    )
    rap = world.rap_sheets.get(fbi_number, []) if fbi_number else []
    result = cjis.answer_search(
        msg.at, fbi_number, score, rap, bool(msg.payload["forward_to_ident"])
    )
    return StepResult(result.events, tuple(_carry(s, msg) for s in result.next))


def on_ident_search(state: CaseState, msg: Message, world: World) -> StepResult:
    fin, score = world.search("ident", msg.payload["fingers"], f"case {state.case_id} IDENT probe")
    encounters = world.encounters.get(fin, []) if fin else []
    return ident.answer_search(msg.at, _booking(state), fin, score, encounters)


def on_lesc_respond(state: CaseState, msg: Message, world: World) -> StepResult:
    fin = msg.payload["fin"]
    record = world.status_records.get(fin, Status.UNDOCUMENTED)
    office = world.field_office_of(_booking(state)["county_fips"])
    return lesc.respond(msg.at, fin, record, office, state.results_reach_agency)


def on_ero_decide(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.iar is not None
    return ero.decide(
        msg.at,
        _booking(state),
        state.rap_sheet,
        state.iar,
        _rules(state, msg.at),
        world.practice,
        draw(world.seed, state.case_id, "ero.act"),
    )


def on_cap_screen(state: CaseState, msg: Message, world: World) -> StepResult:
    booking = {
        **_booking(state),
        "field_office": world.field_office_of(_booking(state)["county_fips"]),
    }
    return ero.cap_screen(
        msg.at,
        booking,
        _rules(state, msg.at),
        world.practice,
        draw(world.seed, state.case_id, "cap.interview"),
        draw(world.seed, state.case_id, "cap.detainer"),
    )


def on_jail_detainer(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.detainer is not None
    return jail.receive_detainer(
        msg.at, _booking(state), state.rap_sheet, state.detainer, _rules(state, msg.at)
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
        _rules(state, msg.at),
        world.practice,
        draw(world.seed, state.case_id, "ice.pickup"),
        draw(world.seed, state.case_id, "ice.pickup_delay"),
    )


def on_pickup(state: CaseState, msg: Message, world: World) -> StepResult:
    return court.transfer(
        msg.at, _booking(state), state.hold_started_at, state.hold_expires_at, world.practice
    )


def on_hold_expire(state: CaseState, msg: Message, world: World) -> StepResult:
    assert state.hold_started_at is not None
    return jail.end_hold_at_expiry(msg.at, _booking(state), state.hold_started_at)


def on_proceedings(state: CaseState, msg: Message, world: World) -> StepResult:
    level = state.level or "non_criminal"
    return court.proceedings(
        msg.at,
        level,
        world.practice,
        draw(world.seed, state.case_id, "court.removal"),
        draw(world.seed, state.case_id, "court.kind"),
    )


HANDLERS: dict[str, Handler] = {
    "booking": on_booking,
    "sib.route": on_sib_route,
    "cjis.search": on_cjis_search,
    "ident.search": on_ident_search,
    "lesc.respond": on_lesc_respond,
    "ero.decide": on_ero_decide,
    "ero.cap_screen": on_cap_screen,
    "jail.detainer": on_jail_detainer,
    "jail.release": on_jail_release,
    "ero.pickup": on_pickup,
    "hold.expire": on_hold_expire,
    "court.proceedings": on_proceedings,
}


def handle(state: CaseState, msg: Message, world: World) -> StepResult:
    try:
        handler = HANDLERS[msg.step]
    except KeyError:
        raise ValueError(f"case {msg.case_id}: no handler for step {msg.step!r}") from None
    return handler(state, msg, world)


__all__ = [
    "HANDLERS",
    "Message",
    "handle",
    "encode_fingers",
    "decode_fingers",
    "Emit",
    "parse_time",
]
