"""ICE's own record beside the model's, for the pages: the FOIA detainer series of
:mod:`scomm.record.detainers` by month ("YYYY-MM"), or None where the data directory lacks it."""

from __future__ import annotations

from functools import cache

from scomm.errors import ScommError
from scomm.record.detainers import (
    NATIONAL_SOURCE,
    PENNSYLVANIA_SOURCE,
    national_by_month,
    pennsylvania_county_month,
)

__all__ = ["NATIONAL_SOURCE", "PENNSYLVANIA_SOURCE", "county_by_month", "national"]


@cache
def national() -> dict[str, int] | None:
    try:
        frame = national_by_month()
    except ScommError:  # the file is not in the data directory: the pages say so
        return None
    return {
        m.strftime("%Y-%m"): int(n) for m, n in zip(frame["month"], frame["detainers"], strict=True)
    }


@cache
def _pennsylvania() -> dict[str, dict[str, int]]:
    try:
        frame = pennsylvania_county_month()
    except ScommError:
        return {}
    out: dict[str, dict[str, int]] = {}
    for fips, month, n in frame.iter_rows():
        out.setdefault(fips, {})[month.strftime("%Y-%m")] = int(n)
    return out


def county_by_month(fips: str) -> dict[str, int] | None:
    """Detainers at the county's own jails by month (Pennsylvania's counties), else None."""
    return _pennsylvania().get(fips)
