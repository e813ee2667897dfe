"""A month's bookings as arrays: :func:`scomm.population.draw_cohort`, the one sampler every
runner draws its people from (kept here under the names the simulation's callers use)."""

from __future__ import annotations

from scomm.population import (
    CITIZEN_CODES,
    STATUS_INDEX,
    STATUSES,
    Cohort,
    OffenseCodes,
    draw_cohort,
    status_table,
)

__all__ = [
    "CITIZEN_CODES",
    "STATUSES",
    "STATUS_INDEX",
    "Cohort",
    "OffenseCodes",
    "draw_cohort",
    "status_table",
]
