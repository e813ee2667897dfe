"""Build ``timezones.csv``: every county's IANA time zone, from the Census county shapes and the
time zone boundaries ``timezonefinder`` ships (timezone-boundary-builder, from OpenStreetMap).

Run ``python -m scomm.jurisdictions.timezones_build`` (needs ``pip install -e '.[build]'``:
``shapely`` and ``timezonefinder``) after either source changes. Each county's zone is the zone
at a point inside it (shapely's representative point, inside even where the centroid is not).
A county is checked for a zone boundary on a grid of points inside it (1 km from its edge, so
that a border's imprecision does not count); where the grid finds more than one zone the county
is split, and the jail takes the zone of the county seat, where the county jail is: the seat is
listed below with its coordinates and looked up the same way. A split county with no seat
listed stops the build, so that the table never guesses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scomm.files import write_text_atomic
from scomm.jurisdictions.maps import shapefile_path
from scomm.jurisdictions.timezones import TABLE_PATH, TERRITORIES

GRID = 16  # points per side of the county's bounding box
EDGE_DEGREES = 0.01  # about 1 km: points closer to the county's edge are not checked

# Where the jail is, in each county a zone boundary crosses: the county seat (or for Alaska's
# census areas, which have none, the largest town), with the town's approximate coordinates.
SEATS: dict[str, tuple[str, float, float]] = {
    "01017": ("LaFayette, the county seat", 32.899, -85.401),
    "01081": ("Opelika, the county seat", 32.645, -85.378),
    "01113": ("Phenix City, the county seat", 32.471, -85.000),
    "02013": ("Sand Point, the borough seat", 55.339, -160.497),
    "02050": ("Bethel, the largest town (a census area has no seat)", 60.792, -161.756),
    "02158": ("Hooper Bay, the largest town (a census area has no seat)", 61.531, -166.097),
    "02180": ("Nome, the largest town (a census area has no seat)", 64.501, -165.406),
    "02185": ("Utqiagvik, the borough seat", 71.290, -156.789),
    "02188": ("Kotzebue, the borough seat", 66.898, -162.597),
    "02195": ("Petersburg, the borough seat", 56.812, -132.956),
    "02282": ("Yakutat, the borough seat", 59.547, -139.727),
    "04001": ("St. Johns, the county seat", 34.506, -109.361),
    "04005": ("Flagstaff, the county seat", 35.198, -111.651),
    "04017": ("Holbrook, the county seat", 34.902, -110.158),
    "12045": ("Port St. Joe, the county seat", 29.812, -85.303),
    "16049": ("Grangeville, the county seat", 45.927, -116.122),
    "31031": ("Valentine, the county seat", 42.873, -100.551),
    "38025": ("Manning, the county seat", 47.230, -102.770),
    "38053": ("Watford City, the county seat", 47.802, -103.283),
    "38085": ("Fort Yates, the county seat", 46.087, -100.630),
    "41045": ("Vale, the county seat", 43.982, -117.238),
    "46117": ("Fort Pierre, the county seat", 44.354, -100.374),
}


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
        town, lat, lon = seat
        zone = zone_at(lon, lat, f"county {fips} {name}, seat {town}")
        part = (
            f"split between {' and '.join(zones)}; the jail is at {town} "
            f"({lat:.3f}, {lon:.3f}), in {zone}"
        )
        out.append(CountyZone(fips, name, zone, zones, part))
    if unlisted:
        raise ValueError(
            "counties split between time zones with no county seat listed in "
            f"scomm/jurisdictions/timezones_build.py SEATS: {'; '.join(unlisted)}"
        )
    return sorted(out, key=lambda c: c.fips)


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
