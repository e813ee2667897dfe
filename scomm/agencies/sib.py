"""The State Identification Bureau: forwards prints to CJIS and applies the jurisdiction's
Secure Communities status on that date."""

from __future__ import annotations

import datetime as dt

import numpy as np

from scomm.agencies.base import Emit, Send, StepResult
from scomm.policies.decisions import RulesInForce, receives_results, results_reach_agency


def route(
    ori: str, at: dt.datetime, activation_date: dt.date | None, rules: RulesInForce
) -> StepResult:
    """Route to CJIS; decide whether IDENT sees the prints and whether results come back."""
    regime = rules.regime_arrays()
    activated = (
        activation_date is not None
        and activation_date <= at.date()
        and bool(regime.secure_communities[0])
    )
    reach = bool(results_reach_agency(receives_results(rules.policy_arrays()), regime)[0])
    if not activated:
        status = "not_activated"
        basis = (
            "Secure Communities not yet activated in this jurisdiction "
            f"(activation {activation_date or 'unknown'}): prints go to FBI CJIS only"
        )
    elif reach:
        status = "activated"
        basis = (
            f"Secure Communities activated {activation_date}: CJIS forwards the prints to DHS "
            f"IDENT (DOJ-DHS interoperability); {rules.regime_period.reference}"
        )
    else:
        status = "opted_out"
        opted = next(layer for layer in rules.layers if not layer.policy.receives_results)
        basis = (
            f"Opted out of receiving results ({opted.basis}); the prints still reach ICE "
            "through interoperability"
        )
    return StepResult(
        events=(
            Emit(
                "sib.routed",
                "SIB",
                at,
                {
                    "secure_communities": status,
                    "ori": ori,
                    "results_reach_agency": bool(np.all(reach)),
                },
                basis,
            ),
        ),
        next=(Send("cjis.search", at + dt.timedelta(minutes=10), {"forward_to_ident": activated}),),
    )
