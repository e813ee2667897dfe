"""The prison door: detainers ICE lodges in state and federal prisons.

The national simulation books people into county jails; ICE's record also counts the
detainers its Criminal Alien Program lodges on prisoners. That door is a dated national rate
per federal regime (``practice.prison_detainers_per_month``), not a draw per booking: scomm has
no prison population to draw from. Its detainers are counted beside the county run's wherever
the model is set against ICE's record (:mod:`scomm.record.series`), never inside the county
outputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from scomm.policies.load import federal_regimes
from scomm.policies.practice import Practice


def regime_of_month(month: str) -> str:
    """The federal regime in force on the 15th of a ``YYYY-MM`` month (the first regime for
    months before the program began)."""
    regimes = federal_regimes()
    day = dt.date(int(month[:4]), int(month[5:7]), 15)
    period = regimes.in_force(day)
    if period is None:
        first = min(regimes.periods, key=lambda p: p.start)
        last = max(regimes.periods, key=lambda p: p.start)
        period = first if day < first.start else last
    return period.regime.name


def prison_detainers(months: Sequence[str], practice: Practice) -> np.ndarray:
    """Detainers lodged in prisons, per month of ``months``."""
    rates = practice.prison_detainers_per_month
    return np.array([float(rates.get(regime_of_month(m), 0.0)) for m in months])
