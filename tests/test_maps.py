"""County maps: the file is made, and known counties have the colour their policy gives them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from scomm.errors import InputError
from scomm.settings import data_dir

pytestmark = pytest.mark.skipif(
    not (data_dir() / "scomm_rollout/secure_communities_panel.csv.zip").is_file(),
    reason=f"public data not in {data_dir()} (SCOMM_DATA_DIR)",
)
shapefile = pytest.importorskip("shapefile", reason="pyshp not installed")
pytest.importorskip("_plotly_geo", reason="plotly-geo not installed")

END_2014 = dt.date(2014, 12, 31)


def test_shapes_cover_every_county() -> None:
    from scomm.jurisdictions.counties import load_jurisdictions
    from scomm.jurisdictions.maps import county_shapes

    shapes = county_shapes()
    assert set(shapes.rings) == set(load_jurisdictions().counties)
    vertices = sum(len(r) for rings in shapes.rings.values() for r in rings)
    assert vertices < 250_000  # simplified from the file's ~1 million


def test_policy_categories_on_known_counties() -> None:
    from scomm.jurisdictions.maps import policy_values

    values = policy_values(END_2014)
    assert values["48201"] == "honors all"  # Harris TX: no local rule
    assert values["06037"] == "declines"  # Los Angeles, July 2014
    assert values["06071"] == "conditional"  # San Bernardino: California's TRUST Act alone
    assert values["41051"] == "conditional"  # Multnomah: judicial warrant only
    assert values["42101"] == "conditional"  # Philadelphia
    early = policy_values(dt.date(2011, 1, 1))
    assert early["06075"] == "opted out"  # San Francisco asked, ICE still allowed it on paper
    assert early["17031"] == "not activated"  # Cook County: January 2013
    assert policy_values(dt.date(2011, 7, 1))["25025"] == "opted out"  # Suffolk MA, a 2008 pilot
    assert policy_values(dt.date(2011, 8, 5))["25025"] == "honors all"  # mandatory from then


def test_svg_fill_by_county_id(tmp_path: Path) -> None:
    from scomm.jurisdictions.maps import POLICY_COLORS, policy_map

    out = policy_map(END_2014).save(tmp_path / "policy.svg")
    text = out.read_text()
    fills = dict(re.findall(r'<path id="c(\d{5})" fill="(#[0-9A-Fa-f]{6})"', text))
    assert len(fills) == 3142
    assert fills["06037"] == POLICY_COLORS["declines"]
    assert fills["48201"] == POLICY_COLORS["honors all"]
    assert fills["41051"] == POLICY_COLORS["conditional"]
    assert "honors all" in text and "declines" in text  # the legend


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.mark.parametrize(
    ("fips", "category"),
    [
        ("48201", "honors all"),
        ("06071", "conditional"),
        ("32003", "declines"),
        ("06073", "declines"),
    ],
)
def test_png_pixel_colour(tmp_path: Path, fips: str, category: str) -> None:
    from matplotlib.path import Path as Outline
    from PIL import Image

    from scomm.jurisdictions.maps import POLICY_COLORS, WIDTH, policy_map

    county_map = policy_map(END_2014)
    png = county_map.save(tmp_path / "policy.png")
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[1] == WIDTH
    x, y = county_map.pixel_of(fips)
    # The point is inside the county (checked, not assumed), so the pixel is the county's fill.
    _, _, to_image = county_map._frame(WIDTH)
    ring = max(county_map.shapes.rings[fips], key=len)
    assert Outline(to_image(ring)).contains_point((x, y))
    pixel = image[int(round(y)), int(round(x))]
    assert np.abs(pixel.astype(int) - _rgb(POLICY_COLORS[category])).max() <= 3


def test_rollout_map(tmp_path: Path) -> None:
    from scomm.jurisdictions.maps import rollout_values

    values = rollout_values(dt.date(2008, 12, 31))
    assert sum(v == "2008" for v in values.values()) == 14
    assert values["48201"] == "2008"
    assert values["06037"] == "not activated"  # August 2009
    later = rollout_values(dt.date(2011, 6, 30))
    assert later["06037"] == "2009"


def test_cli_maps(tmp_path: Path) -> None:
    from scomm.cli import main

    for kind, day in (("rollout", "2011-06-30"), ("policy", "2014-12-31")):
        out = tmp_path / f"{kind}.png"
        with pytest.raises(SystemExit) as done:
            main(["map", kind, "--on", day, "--out", str(out)])
        assert done.value.code == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_numbers_get_a_binned_legend(tmp_path: Path) -> None:
    from scomm.jurisdictions.counties import load_jurisdictions
    from scomm.jurisdictions.maps import county_map

    values = {c.fips: c.population_in(2010) for c in load_jurisdictions().all()}
    made = county_map(values, "Population 2010")
    assert 2 <= len(made.legend.entries) <= 6
    assert made.color_of("06037") == made.legend.entries[-1][1]  # Los Angeles: the top bin
    made.save(tmp_path / "population.svg")


def test_wrong_extension_and_unknown_fips_are_refused(tmp_path: Path) -> None:
    from scomm.jurisdictions.maps import county_map

    with pytest.raises(InputError):
        county_map({"48201": "x"}, "t").save(tmp_path / "map.jpg")
    with pytest.raises(InputError):
        county_map({"99999": "x"}, "t")
