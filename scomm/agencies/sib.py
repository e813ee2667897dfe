"""The State Identification Bureau: forwards prints to CJIS and applies the jurisdiction's
Secure Communities status on that date."""

from __future__ import annotations

import datetime as dt

import numpy as np

from scomm.agencies.base import Emit, Send, StepResult
from scomm.policies import flow
from scomm.policies.decisions import RulesInForce, receives_results, results_reach_agency
from scomm.policies.practice import StepDelays


def route(
    ori: str,
    at: dt.datetime,
    activation_date: dt.date | None,
    rules: RulesInForce,
    delays: StepDelays | None = None,
    convicted: bool = False,
) -> StepResult:
    """Route to CJIS; decide whether IDENT sees the prints and whether results come back.
    ``convicted``: the custody ends in a sentence (what a reform checking prints only after
    conviction reads)."""
    regime = rules.regime_arrays()
    active = (
        activation_date is not None
        and activation_date <= at.date()
        and bool(regime.secure_communities[0])
    )
    layers = rules.policy_arrays()
    forwarded = bool(flow.prints_checked(np.array([active]), layers, np.array([convicted]))[0])
    reach = bool(results_reach_agency(receives_results(layers), regime)[0])
    if active and not forwarded:
        status = "withheld"
        basis = (
            "Secure Communities activated, but the rules in force keep these prints from IDENT "
            "(an opt-out honored, or prints checked only after conviction): "
            + "; ".join(layer.basis for layer in rules.layers)
        )
    elif not active:
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
        next=(
            Send(
                "cjis.search",
                at + flow.delay(delays, "sib_to_cjis"),
                {"forward_to_ident": forwarded},
            ),
        ),
    )
