"""The prison door: detainers ICE lodges in state and federal prisons.

The national simulation books people into county jails; ICE's record also counts the
detainers its Criminal Alien Program lodges on prisoners. That door is a dated national rate
per federal regime (``practice.prison_detainers_per_month``), not a draw per booking: scomm has
no prison population to draw from. Its detainers are counted beside the county run's wherever
the model is set against ICE's record (:mod:`scomm.record.series`), never inside the county
outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scomm.policies.flow import phased_in
from scomm.policies.practice import Practice
from scomm.population import season

AVERAGE_MONTH_DAYS = 365.25 / 12


def prison_detainers(months: Sequence[str], practice: Practice) -> np.ndarray:
    """Detainers lodged in prisons, per month of ``months``: the regime's monthly rate is for
    a month of average length, followed day by day as ICE took each regime up
    (:func:`scomm.policies.flow.phased_in`) and paced by the season (``population.yaml``)."""
    out = np.zeros(len(months))
    for i, month in enumerate(months):
        first = np.datetime64(month, "M")
        days = np.arange(first.astype("datetime64[D]"), (first + 1).astype("datetime64[D]"))
        per_month, _ = phased_in(
            practice.prison_detainers_per_month, 0.0, days, practice.phase_in_days
        )
        out[i] = per_month.sum() / AVERAGE_MONTH_DAYS * season(int(month[5:7]))
    return out
