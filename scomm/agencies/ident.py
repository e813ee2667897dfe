"""DHS IDENT: search of everyone who met immigration authorities; a match sends an IAQ."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scomm.agencies.base import Emit, Send, StepResult, iso
from scomm.forms.ice import IAQ
from scomm.offenses import offense
from scomm.policies.flow import delay
from scomm.policies.practice import StepDelays


def most_serious_charge(charges: list[dict[str, Any]]) -> str:
    def weight(c: dict[str, Any]) -> tuple[int, int, int]:
        o = offense(c["code"])
        return (int(o.aggravated_felony), int(c["grade"] == "felony"), int(o.violent))

    return max(charges, key=weight)["code"] if charges else "0399"


def answer_search(
    at: dt.datetime,
    booking: dict[str, Any],
    fin: str | None,
    score: float | None,
    encounters: list[dict[str, Any]],
    delays: StepDelays | None = None,
) -> StepResult:
    d = delays
    if fin is None:
        return StepResult(
            events=(
                Emit(
                    "ident.response",
                    "DHS IDENT",
                    at,
                    {"match": False},
                    "8 U.S.C. 1722 interoperable data system: no IDENT record matched",
                ),
            ),
            next=(Send("ero.cap_screen", at + delay(d, "no_match_to_screen")),),
        )
    iaq = IAQ(
        ori=booking["ori"],
        name=booking["name"],
        date_of_birth=dt.date.fromisoformat(booking["date_of_birth"]),
        sex=booking["sex"],
        place_of_birth=booking["place_of_birth"],
        in_custody=True,
        offense_code=most_serious_charge(booking["charges"]),
        ident_fin=fin,
        sent_at=at,
    )
    iaq_fields = {
        "ori": iaq.ori,
        "name": iaq.name,
        "date_of_birth": iaq.date_of_birth.isoformat(),
        "sex": iaq.sex,
        "place_of_birth": iaq.place_of_birth,
        "custody": "Y" if iaq.in_custody else "N",
        "offense_code": iaq.offense_code,
        "ident_fin": iaq.ident_fin,
        "sent_at": iso(iaq.sent_at),
    }
    return StepResult(
        events=(
            Emit(
                "ident.response",
                "DHS IDENT",
                at,
                {"match": True, "fin": fin, "score": score, "encounters": encounters},
                "8 U.S.C. 1722 interoperable data system: biometric match to an IDENT encounter",
            ),
            Emit(
                "lesc.iaq",
                "DHS IDENT",
                at,
                iaq_fields,
                "Immigration Alien Query to ICE LESC over Nlets on an IDENT match",
            ),
        ),
        next=(Send("lesc.respond", at + delay(d, "ident_to_lesc"), {"fin": fin}),),
    )
