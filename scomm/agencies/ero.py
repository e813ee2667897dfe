"""ICE Enforcement and Removal Operations: what to do with a match, by the regime in force."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from scomm.agencies.base import Emit, Send, StepResult
from scomm.forms.ice import Detainer, fill_detainer_fields
from scomm.people import born_in_us
from scomm.policies import flow
from scomm.policies.decisions import (
    LEVEL_CODES,
    LEVEL_INDEX,
    Action,
    OffenseRecord,
    RulesInForce,
    agreement_287g,
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


@dataclass(frozen=True)
class Subject:
    """The person ERO decides on, with the two levels it reads off the record: the one its
    priorities read under the regime in force, the one a removal is reported under."""

    booking: dict[str, Any]
    level: str
    conviction_level: str

    @classmethod
    def of(
        cls, booking: dict[str, Any], rap_sheet: list[dict[str, Any]], rules: RulesInForce
    ) -> Subject:
        return cls(
            booking, level_of(booking, rap_sheet, rules), conviction_level(booking, rap_sheet)
        )

    @property
    def level_index(self) -> np.ndarray:
        return np.array([LEVEL_INDEX[Level(self.level)]], dtype=np.int8)


def decide(
    at: dt.datetime,
    booking: dict[str, Any],
    rap_sheet: list[dict[str, Any]],
    iar: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
) -> StepResult:
    """Detainer, notification request, interview or no action on an IDENT match, by the federal
    rules that day and ICE's discretion (:func:`scomm.policies.flow.ero_decision`)."""
    subject = Subject.of(booking, rap_sheet, rules)
    draw = flow.ero_decision(
        rng,
        subject.level_index,
        rules.regime_arrays(),
        np.array([iar["us_citizen"]]),
        practice.act_probability(subject.level, rules.regime.name),
        practice,
    )
    return _act(at, subject, iar, rules, practice, Action(int(draw[0])), "secure_communities")


def _act(
    at: dt.datetime,
    subject: Subject,
    iar: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    action: Action,
    door: str,
) -> StepResult:
    """ERO's decision, and the form it sends the jail."""
    booking, level = subject.booking, subject.level
    delays = practice.step_delays_minutes
    regime = rules.regime
    basis = f"{regime.name}: {rules.regime_period.reference}"
    decision = {
        "action": action.name.lower(),
        "level": level,
        "conviction_level": subject.conviction_level,
        "determination": iar["determination"],
        "door": door,
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
                {**detainer.to_json(), "door": door},
                f"8 CFR 287.7: DHS Form {form}, signed by an immigration officer, not a judge",
            )
        )
        return StepResult(
            tuple(events), (Send("jail.detainer", at + flow.delay(delays, "ero_to_jail")),)
        )
    if action == Action.INTERVIEW:
        events.append(
            Emit(
                "ero.interview",
                f"ICE ERO {iar['field_office']}",
                at + flow.delay(delays, "ero_interview"),
                {"level": level},
                f"{regime.name}: level {level} is interviewed rather than held",
            )
        )
    return StepResult(tuple(events), release_when_due(booking))


def jail_screen(
    at: dt.datetime,
    booking: dict[str, Any],
    rap_sheet: list[dict[str, Any]],
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
) -> StepResult:
    """The jail's other doors for an inmate IDENT did not match: where a 287(g) jail-model
    agreement is in force, deputized officers screen the foreign-born; elsewhere Criminal Alien
    Program agents interview some. A non-citizen found removable may get a detainer
    (:func:`scomm.policies.flow.jail_screens`)."""
    foreign_born = not born_in_us(booking["place_of_birth"])
    says_citizen = booking.get("interview_status", "unknown") in ("us_citizen", "unknown")
    layers = rules.policy_arrays()
    regime = rules.regime_arrays()
    screens = flow.jail_screens(
        rng,
        np.array([foreign_born]),
        np.array([not says_citizen]),
        agreement_287g(layers),
        regime.criminal_alien_program,
        practice,
    )
    if screens.g287_screened[0]:
        actor, door, step = "287(g) officer (deputized jail staff)", "287g", "g287.screening"
        basis = (
            "INA 287(g) (8 U.S.C. 1357(g)): a deputized jail officer screens a foreign-born inmate"
        )
        found = bool(screens.g287_found[0])
    elif screens.cap_interviewed[0]:
        actor, door, step = "ICE ERO (Criminal Alien Program)", "cap", "ero.cap_interview"
        basis = "Criminal Alien Program: ICE interview of a foreign-born inmate (INA 287(a))"
        found = bool(screens.cap_found[0])
    else:
        return StepResult((), release_when_due(booking))
    events = [Emit(step, actor, at, {"foreign_born": True, "found_removable": found}, basis)]
    if not found:
        return StepResult(tuple(events), release_when_due(booking))
    iar = {
        "us_citizen": False,
        "determination": booking.get("interview_status"),
        "ident_fin": "CAP-INTERVIEW" if door == "cap" else "287G-SCREENING",
        "field_office": booking.get("field_office", "unknown"),
    }
    subject = Subject.of(booking, rap_sheet, rules)
    action = Action(int(flow.screen_action(subject.level_index, regime, practice)[0]))
    issued = _act(at, subject, iar, rules, practice, action, door)
    return StepResult(tuple(events) + issued.events, issued.next)


def after_release(
    released_at: dt.datetime,
    booking: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
    notified: bool,
) -> StepResult:
    """ICE's routes to a person it wanted who walked out with no hold: at the door, where the
    jail told it of the release; otherwise, perhaps, an arrest at large later
    (:func:`scomm.policies.flow.after_release`)."""
    after = flow.after_release(
        rng,
        np.array([True]),
        np.array([notified]),
        practice.under(practice.release_pickup_rate, rules.regime.name),
        practice.under(practice.at_large_arrest_rate, rules.regime.name),
        practice,
    )
    if after.release_pickup[0]:
        return StepResult((), (Send("ero.pickup", released_at, {"route": "release"}),))
    if after.at_large[0]:
        days = float(after.at_large_delay_days[0])
        return StepResult((), (Send("ero.arrest_at_large", released_at + dt.timedelta(days=days)),))
    return StepResult()


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
