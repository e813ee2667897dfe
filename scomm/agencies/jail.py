"""The jail: answers a detainer under its policy in force, runs the hold clock, notifies the
family, releases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from scomm.agencies import ero
from scomm.agencies.base import Emit, Send, StepResult, iso
from scomm.agencies.citations import DETAINER_IS_A_REQUEST, cited_on
from scomm.agencies.ero import offense_record, release_when_due
from scomm.jurisdictions.timezones import county_zone, with_local_offset
from scomm.people import born_in_us
from scomm.policies import flow
from scomm.policies.decisions import (
    LEVEL_INDEX,
    RulesInForce,
    hold_limit_hours,
    hold_limits,
    honor_detainer,
)
from scomm.policies.hold_clock import hold_expires_at
from scomm.policies.practice import Practice
from scomm.policies.schema import Level

SAFEGUARD_CITIZENSHIP = (
    "Safeguard: a record of US citizenship stops the detainer; ICE has no authority to detain "
    "a US citizen (8 U.S.C. 1357(a); 8 CFR 287.7)"
)


def citizenship_records(booking: dict[str, Any]) -> list[str]:
    """Records of US citizenship the jail holds or is shown: US birthplace, naturalization or
    derived citizenship certificates."""
    records = [f"{e['kind']} {e['number']}" for e in booking.get("citizenship_evidence", [])]
    if born_in_us(booking["place_of_birth"]):
        records.insert(0, f"place of birth {booking['place_of_birth']} (US)")
    return records


def receive_detainer(
    at: dt.datetime,
    booking: dict[str, Any],
    rap_sheet: list[dict[str, Any]],
    detainer: dict[str, Any],
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
) -> StepResult:
    """The jail's answer to a detainer under its policy layers in force that day."""
    actor = f"Jail {booking['ori']}"
    release = release_when_due(booking)
    records = citizenship_records(booking)
    if records:
        return StepResult(
            (
                Emit(
                    "detainer.stopped",
                    actor,
                    at,
                    {
                        "wrongful_detainer": True,
                        "citizenship_records": records,
                        "form": detainer["form"],
                    },
                    SAFEGUARD_CITIZENSHIP,
                ),
            ),
            release,
        )
    if release and release[0].at <= at:
        # Released before the request arrived: nothing to hold, nobody told ICE; ICE may find
        # the person later.
        after = ero.after_release(release[0].at, booking, rules, practice, rng, notified=False)
        return StepResult(
            (
                Emit(
                    "detainer.after_release",
                    actor,
                    at,
                    {"released_at": iso(release[0].at)},
                    "The detainer arrived after the person was released; nothing to hold",
                ),
                *after.events,
            ),
            after.next,
        )
    layers = rules.policy_arrays()
    honored = bool(
        honor_detainer(
            layers,
            offense_record(booking, rap_sheet),
            detainer["judicial_warrant"],
            detainer["reimbursement_offered"],
        )[0]
        and not flow.jail_declines_anyway(rng, 1, practice)[0]
    )
    limit = float(hold_limit_hours(layers, rules.regime_arrays())[0])
    answer = {"honored": honored, "form": detainer["form"], "hold_limit_hours": limit}
    basis = "; ".join(layer.basis for layer in rules.layers)
    basis += "; " + cited_on(DETAINER_IS_A_REQUEST, at.date())
    return StepResult((Emit("jail.detainer_answer", actor, at, answer, basis),), release)


def release(
    at: dt.datetime,
    reason: str,
    booking: dict[str, Any],
    answer: dict[str, Any] | None,
    detainer: dict[str, Any] | None,
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
    wanted: bool,
) -> StepResult:
    """The moment the person would otherwise walk out: release, or the start of a hold.

    ``wanted``: ICE asked for the person (a detainer or notification request the jail
    received, not one stopped on a citizenship record). Released with no hold, such a person
    may still be taken: at the door, where the jail tells ICE of the release (every policy
    layer in force must let it), or later at large.
    """
    actor = f"Jail {booking['ori']}"
    base = {"reason": reason}
    zone = county_zone(booking["county_fips"])
    holds = bool(answer and answer["honored"] and detainer and _requests_hold(detainer))
    if not holds:
        released = {**base, "released_at": iso(local_time(at, zone))}
        events = [
            Emit("released", actor, at, released, f"Custody ends: {reason.replace('_', ' ')}"),
        ]
        if not (wanted and detainer):
            return StepResult(tuple(events), ())
        notifies = bool(flow.jail_notifies_ice(rules.policy_arrays(), 1)[0])
        if notifies:
            events.append(
                Emit(
                    "ice.notified_of_release",
                    actor,
                    at,
                    {"form": detainer["form"]},
                    "The jail tells ICE of the release (its policy layers in force allow it)",
                )
            )
        after = ero.after_release(at, booking, rules, practice, rng, notifies)
        return StepResult(tuple(events) + after.events, after.next)

    assert answer is not None and detainer is not None
    # Every limit in force (federal, state, county), each counted its own way on the jail's
    # local days; the earliest binds.
    limits = [
        (float(h[0]), bool(e[0]))
        for h, e in hold_limits(rules.policy_arrays(), rules.regime_arrays())
    ]
    expires, limit, excludes = min((hold_expires_at(at, h, e, zone), h, e) for h, e in limits)
    contact = booking.get("contact")
    events = [
        Emit(
            "hold.started",
            actor,
            at,
            {
                **base,
                "started_at": iso(local_time(at, zone)),
                "hold_expires_at": iso(expires),
                "limit_hours": limit,
                "excludes_weekends_and_holidays": excludes,
                "limits": [[h, e] for h, e in limits],
                "time_zone": zone,
                "form": detainer["form"],
            },
            "8 CFR 287.7(d): hold up to "
            f"{limit:g} hours"
            + (" excluding Saturdays, Sundays and federal holidays" if excludes else "")
            + f" beyond the time of release, counted on the jail's local days ({zone})",
        ),
        Emit(
            "contact.notified",
            actor,
            at,
            {"contact": contact, "delivered": contact is not None, "hold_expires_at": iso(expires)},
            "Safeguard: the person's designated contact is told of the hold, where and until when"
            if contact
            else "Safeguard: no designated contact on record; the attempt is logged",
        ),
    ]
    rate = flow.pickup_followed(practice, np.array([at.date()], dtype="datetime64[D]"))
    level = np.array([LEVEL_INDEX[Level(detainer["level"])]])
    comes, delay_hours = flow.ice_pickup(rng, 1, rate, practice, level)
    pickup_at = at + dt.timedelta(hours=float(delay_hours[0])) if comes[0] else None
    if pickup_at is not None and pickup_at <= expires:
        return StepResult(
            tuple(events),
            (Send("ero.pickup", pickup_at, {"hold_expires_at": iso(expires), "route": "hold"}),),
        )
    return StepResult(
        tuple(events), (Send("hold.expire", expires, {"hold_expires_at": iso(expires)}),)
    )


def local_time(at: dt.datetime, zone: str) -> dt.datetime:
    """The jail's wall clock at ``at``, with its offset (the same instant)."""
    return with_local_offset(at, zone)


def _requests_hold(detainer: dict[str, Any]) -> bool:
    return any(name.startswith("hold_48h") for name in detainer.get("fields", {}))


def end_hold_at_expiry(
    at: dt.datetime,
    booking: dict[str, Any],
    hold_started_at: dt.datetime,
    rules: RulesInForce,
    practice: Practice,
    rng: np.random.Generator,
) -> StepResult:
    """The hold ran out with no pickup: the person walks out, and ICE may find them later."""
    actor = f"Jail {booking['ori']}"
    hours = (at - hold_started_at).total_seconds() / 3600
    local = iso(local_time(at, county_zone(booking["county_fips"])))
    after = ero.after_release(at, booking, rules, practice, rng, notified=False)
    return StepResult(
        (
            Emit(
                "hold.ended",
                actor,
                at,
                {"reason": "expired", "hours": round(hours, 2), "ended_at": local},
                "The hold's legal limit is reached: the person must be released",
            ),
            Emit(
                "released",
                actor,
                at,
                {"reason": "hold_expired", "released_at": local},
                "Release at the end of the hold",
            ),
            *after.events,
        ),
        after.next,
    )


__all__ = ["receive_detainer", "release", "end_hold_at_expiry"]
