"""Every county's time zone (IANA tz database names, read with :mod:`zoneinfo`).

The table ``timezones.csv`` beside this module is built from the Census county shapes and the
time zone boundaries by :mod:`scomm.jurisdictions.timezones_build`; a county split between two
zones says so (``split``) and which part its jail takes (``jail_part``: the county seat's).
The jail's local days are what the hold clock counts (:mod:`scomm.policies.hold_clock`).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from scomm.errors import DataError, InputError

TABLE_PATH = Path(__file__).with_name("timezones.csv")
# Census state FIPS of the territories: outside scomm's counties.
TERRITORIES = frozenset({"60", "66", "69", "72", "78"})


@dataclass(frozen=True)
class CountyTimeZone:
    fips: str
    name: str
    zone: str
    split: tuple[str, ...]  # the zones the county spans, where more than one
    jail_part: str  # which part the jail takes, and why (split counties only)

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@cache
def time_zone_table() -> dict[str, CountyTimeZone]:
    """fips -> the county's zone (read once)."""
    if not TABLE_PATH.is_file():
        raise DataError(str(TABLE_PATH), "missing: python -m scomm.jurisdictions.timezones_build")
    out: dict[str, CountyTimeZone] = {}
    with TABLE_PATH.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                ZoneInfo(row["zone"])
            except (KeyError, ValueError) as e:
                raise DataError(f"{TABLE_PATH}:{line}", f"unknown time zone {row['zone']!r}") from e
            out[row["fips"]] = CountyTimeZone(
                row["fips"],
                row["name"],
                row["zone"],
                tuple(row["split"].split("+")) if row["split"] else (),
                row["jail_part"],
            )
    return out


def county_time_zone(fips: str) -> CountyTimeZone:
    """A county's zone; a county not in the table is refused by name."""
    found = time_zone_table().get(fips)
    if found is None:
        raise InputError(f"county {fips}", "no time zone on record (not a county of the states)")
    return found


def county_zone(fips: str) -> str:
    """The IANA name of the zone a county's jail keeps, e.g. ``America/Phoenix``."""
    return county_time_zone(fips).zone


def county_zones(fips: np.ndarray) -> np.ndarray:
    """The zone of each county in an array of FIPS codes (one lookup per distinct county)."""
    codes = np.asarray(fips)
    unique, inverse = np.unique(codes, return_inverse=True)
    names = np.array([county_zone(str(f)) for f in unique], dtype=object)
    return names[inverse.reshape(codes.shape)]


def county_zone_index(fips: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct zones of a table of counties, and each county's index into them: what the
    clock takes for millions of holds (``hold_expiry(..., zone=names, zone_index=...)``)."""
    zones = county_zones(fips)
    names, index = np.unique(zones.astype(str), return_inverse=True)
    return [str(n) for n in names], index.reshape(np.shape(fips))


def with_local_offset(moment: dt.datetime, zone: str) -> dt.datetime:
    """The same instant on the jail's wall clock, with the offset in force then as a fixed
    offset (``2013-06-05T20:00:00-07:00``). A fixed offset, not the zone itself: a time in the
    repeated hour of a clock change compares unequal to every other zone's times (PEP 495),
    which a fixed offset never does."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: times are kept aware")
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    return moment.astimezone(dt.timezone(offset or dt.timedelta(0)))
