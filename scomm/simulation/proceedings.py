"""Removal proceedings take time: a removal is counted in the month it happens, not in the
month of the booking that led to it.

The engine decides, booking by booking, whether a person transferred to ICE is removed; this
module moves each month's removals to the months they happen, by the proceedings' duration in
``practice.yaml`` (``proceedings_days_median``, lognormal with ``proceedings_days_sigma``),
from a booking day spread evenly over its month. The move is the expectation of that delay,
the same for every run (the dice decide who is removed, not when). Removals that happen after
the run's last month fall outside the run, as they fall outside ICE's count for those months.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.stats import lognorm

from scomm.outputs import OUTPUTS
from scomm.policies.practice import Practice

DAYS_PER_MONTH = 365.25 / 12
REMOVAL_OUTPUTS = tuple(name for name in OUTPUTS if name.startswith("removals"))
_NODES = 64  # booking days within the month, for the integral over the month


@cache
def month_shares(median_days: float, sigma: float, months: int = 36) -> np.ndarray:
    """Share of a month's removals that happen k months later, k = 0 .. months - 1."""
    start = (np.arange(_NODES) + 0.5) / _NODES * DAYS_PER_MONTH  # booking day in its month
    edges = np.arange(months + 1) * DAYS_PER_MONTH  # month boundaries, from the booking month
    if sigma <= 0:
        cdf = (edges[None, :] - start[:, None] >= median_days).astype(float)
    else:
        cdf = lognorm.cdf(edges[None, :] - start[:, None], s=sigma, scale=median_days)
    return np.diff(cdf, axis=1).mean(axis=0)


def time_removals(out: np.ndarray, practice: Practice) -> np.ndarray:
    """``out`` [month, county, output] with its removal outputs moved to their months."""
    shares = month_shares(practice.proceedings_days_median, practice.proceedings_days_sigma)
    timed = out.copy()
    columns = [OUTPUTS.index(n) for n in REMOVAL_OUTPUTS]
    booked = out[:, :, columns]
    moved = np.zeros_like(booked)
    n = out.shape[0]
    for k, share in enumerate(shares[:n]):
        moved[k:] += share * booked[: n - k]
    timed[:, :, columns] = moved
    return timed
