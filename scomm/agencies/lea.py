"""The local law-enforcement agency: arrest, booking, the Livescan submission to the SIB."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scomm.agencies.base import Emit, Send, StepResult, iso
from scomm.offenses import offense
from scomm.policies.flow import delay
from scomm.policies.practice import StepDelays


def book(
    booking: dict[str, Any], booked_at: dt.datetime, delays: StepDelays | None = None
) -> StepResult:
    """Record the booking and send the prints on to the State Identification Bureau.

    ``booking`` carries the Type-1/Type-2 content of the transaction (ORI, TCN, name, DOB, sex,
    place of birth, charges as NCIC code and grade), the county whose jail holds the person and,
    when known, how custody is expected to end (a synthetic run knows; a live booking learns it
    later from the court).
    """
    charges = [
        {
            **c,
            "category": offense(c["code"]).category,
            "description": offense(c["code"]).description,
        }
        for c in booking["charges"]
    ]
    payload = {**booking, "charges": charges, "booked_at": iso(booked_at)}
    return StepResult(
        events=(
            Emit(
                step="booking",
                actor=f"LEA {booking['ori']}",
                at=booked_at,
                payload=payload,
                legal_basis="Arrest and booking under state law; ten prints taken and submitted "
                "as an ANSI/NIST-ITL transaction to the State Identification Bureau",
            ),
        ),
        next=(Send("sib.route", booked_at + delay(delays, "booking_to_sib")),),
    )
