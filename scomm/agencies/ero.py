"""ICE Enforcement and Removal Operations: what to do with a match, by the regime in force."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from scomm.agencies.base import Emit, Send, StepResult
from scomm.forms.ice import Detainer, fill_detainer_fields
from scomm.people import born_in_us
from scomm.policies.decisions import (
    LEVEL_CODES,
    LEVEL_INDEX,
    Action,
    OffenseRecord,
    RulesInForce,
    ero_action,
    offense_level,
)
from scomm.policies.practice import Practice
from scomm.policies.schema import Level


def offense_record(booking: dict[str, Any], rap_sheet: list[dict[str, Any]]) -> OffenseRecord:
    charges = [(c["code"], c["grade"]) for c in booking["charges"]]
    convictions = [(a["code"], a["grade"]) for a in rap_sheet if a.get("convicted")]
    return OffenseRecord.of_one(charges, convictions)


def level_of(booking: dict[str, Any], rap_sheet: list[dict[str, Any]], rules: RulesInForce) -> str:
    """The level ICE's priorities read, as the regime reads it (from charges too, in 2008)."""
    record = offense_record(booking, rap_sheet)
    level = offense_level(record, rules.regime_arrays().count_charges)
    return LEVEL_CODES[int(level[0])].value


def conviction_level(booking: dict[str, Any], rap_sheet: list[dict[str, Any]]) -> str:
    """The level ICE reports a removal under: from convictions only ("non-criminal" means no
    criminal conviction), whatever the regime read for its priorities. A person who served a
    sentence for this arrest was convicted of its charges."""
    convicted_now = (booking.get("custody") or {}).get("reason") == "sentence_served"
    level = offense_level(offense_record(booking, rap_sheet), convicted_now)
    return LEVEL_CODES[int(level[0])].value


def decide(
    at: dt.datetime,
    booking: dict[str, Any],
    rap_sheet: list[dict[str, Any]],
    iar: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    draw: float,
) -> StepResult:
    """Detainer, notification request, interview or no action, by the federal rules that day."""
    level = level_of(booking, rap_sheet, rules)
    level_index = np.array([LEVEL_INDEX[Level(level)]], dtype=np.int8)
    action = Action(
        int(
            ero_action(
                level_index,
                rules.regime_arrays(),
                np.array([iar["us_citizen"]]),
                practice.act_probability(level, rules.regime.name),
                draw,
                practice.interview_detainer_rate,
            )[0]
        )
    )
    regime = rules.regime
    basis = f"{regime.name}: {rules.regime_period.reference}"
    decision = {
        "action": action.name.lower(),
        "level": level,
        "conviction_level": conviction_level(booking, rap_sheet),
        "determination": iar["determination"],
    }
    if iar["us_citizen"]:
        basis = "IAR determines a US citizen: ICE has no removal authority (8 U.S.C. 1357)"
    events = [Emit("ero.decision", f"ICE ERO {iar['field_office']}", at, decision, basis)]
    if action in (Action.DETAINER, Action.NOTIFICATION_REQUEST):
        form = regime.detainer_form if action == Action.DETAINER else regime.notification_form
        assert form is not None  # the regime schema requires it with notification levels
        detainer = Detainer(
            form=form,
            subject_name=booking["name"],
            date_of_birth=dt.date.fromisoformat(booking["date_of_birth"]),
            ident_fin=iar["ident_fin"],
            jail_ori=booking["ori"],
            issued_at=at,
            issuing_officer=f"Immigration officer, ERO {iar['field_office']}",
            level=level,
            fields=fill_detainer_fields(
                form, level=level, administrative_warrant=regime.administrative_warrant_attached
            ),
        )
        events.append(
            Emit(
                "detainer.issued",
                f"ICE ERO {iar['field_office']}",
                at,
                detainer.to_json(),
                f"8 CFR 287.7: DHS Form {form}, signed by an immigration officer, not a judge",
            )
        )
        return StepResult(tuple(events), (Send("jail.detainer", at + dt.timedelta(minutes=30)),))
    if action == Action.INTERVIEW:
        events.append(
            Emit(
                "ero.interview",
                f"ICE ERO {iar['field_office']}",
                at + dt.timedelta(hours=4),
                {"level": level},
                f"{regime.name}: level {level} is interviewed rather than held",
            )
        )
    return StepResult(tuple(events), release_when_due(booking))


def cap_screen(
    at: dt.datetime,
    booking: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    interview_draw: float,
    detainer_draw: float,
) -> StepResult:
    """The Criminal Alien Program: ICE agents interview foreign-born inmates with or without an
    IDENT match. A non-citizen found at interview may get a detainer."""
    foreign_born = not born_in_us(booking["place_of_birth"])
    if not (
        rules.regime.criminal_alien_program
        and foreign_born
        and interview_draw < practice.cap_interview_rate
    ):
        return StepResult((), release_when_due(booking))
    says_citizen = booking.get("interview_status", "unknown") in ("us_citizen", "unknown")
    actor = "ICE ERO (Criminal Alien Program)"
    events = [
        Emit(
            "ero.cap_interview",
            actor,
            at,
            {"foreign_born": True, "found_removable": not says_citizen},
            "Criminal Alien Program: ICE interview of a foreign-born inmate (INA 287(a))",
        )
    ]
    if says_citizen or detainer_draw >= practice.cap_detainer_rate:
        return StepResult(tuple(events), release_when_due(booking))
    iar = {
        "us_citizen": False,
        "determination": booking.get("interview_status"),
        "ident_fin": "CAP-INTERVIEW",
        "field_office": booking.get("field_office", "unknown"),
    }
    issued = decide(at, booking, [], iar, rules, practice, 0.0)
    return StepResult(tuple(events) + issued.events, issued.next)


def release_when_due(booking: dict[str, Any]) -> tuple[Send, ...]:
    """The release message, when the booking knows how custody ends; a live booking waits for
    the court's word instead (``scomm release``)."""
    custody = booking.get("custody")
    if not custody:
        return ()
    due = dt.datetime.fromisoformat(booking["booked_at"]) + dt.timedelta(
        hours=custody["after_hours"]
    )
    return (Send("jail.release", due, {"reason": custody["reason"]}),)
