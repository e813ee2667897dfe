"""The nation page's county maps as PNG (compact: about 100 KB, where an SVG of every county
runs to megabytes), drawn by :mod:`scomm.jurisdictions.maps` and kept by (map, month) so that
moving the date picker back and forth costs one drawing per month."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from scomm.errors import InputError
from scomm.jurisdictions.maps import CountyMap, declined_map, policy_map, rollout_map
from scomm.web.simulate import COUNTY_OUTPUTS, NationalRun

KINDS = {
    "policy": "Detainer policy in force",
    "rollout": "Secure Communities rollout",
    "declines": "Detainers declined, simulated (12 months to the date)",
}
CACHE_SIZE = 64


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month: maps are drawn per month."""
    following = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return following - dt.timedelta(days=1)


class MapCache:
    def __init__(self) -> None:
        self._png: OrderedDict[tuple[str, dt.date], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def png(self, kind: str, day: dt.date, national: NationalRun | None) -> bytes:
        if kind not in KINDS:
            raise InputError(f"map {kind!r}", f"one of {', '.join(KINDS)}")
        day = month_end(day)
        key = (kind, day)
        with self._lock:
            if key in self._png:
                self._png.move_to_end(key)
                return self._png[key]
        data = _draw(_map(kind, day, national))
        with self._lock:
            self._png[key] = data
            while len(self._png) > CACHE_SIZE:
                self._png.popitem(last=False)
        return data


def _draw(county_map: CountyMap) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = county_map.save(Path(tmp) / "map.png")
        return path.read_bytes()


def _map(kind: str, day: dt.date, national: NationalRun | None) -> CountyMap:
    if kind == "policy":
        return policy_map(day)
    if kind == "rollout":
        return rollout_map(day)
    if national is None:
        raise InputError("map declines", "the national run is still loading")
    months = np.array(national.months, dtype="datetime64[M]")
    upto = np.datetime64(day, "M")
    window = (months <= upto) & (months > upto - 12)
    if not window.any():
        raise InputError(
            f"map declines on {day}",
            f"the national run covers {national.months[0]} to {national.months[-1]}",
        )
    mean = national.county[:, window].sum(axis=1).mean(axis=0)  # [county, output]
    issued = mean[:, COUNTY_OUTPUTS.index("detainers_issued")]
    declined = mean[:, COUNTY_OUTPUTS.index("detainers_declined")]
    fips = [str(f) for f in national.fips]
    return declined_map(
        dict(zip(fips, issued.tolist(), strict=True)),
        dict(zip(fips, declined.tolist(), strict=True)),
        f"Share of detainers declined by the jail, 12 months to {day.isoformat()} (simulated)",
        note=f"scomm national baseline ({national.settings.command()}), mean of the runs; "
        "grey: no detainer simulated",
    )
