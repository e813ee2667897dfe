"""Minutiae extraction: stages, invariances, refusals, and agreement with a reference extractor."""

from __future__ import annotations

import numpy as np
import pytest

from scomm.biometrics.extraction import extract
from scomm.biometrics.formats import read_iso19794
from scomm.biometrics.images import read_image
from scomm.biometrics.synthetic import impression, master_fingerprint
from scomm.biometrics.template import BIFURCATION, ENDING, MINUTIA_DTYPE
from scomm.errors import ImageError
from scomm.settings import data_dir

STAGES = [
    "normalized",
    "mask",
    "orientation",
    "coherence",
    "period",
    "enhanced",
    "binary",
    "skeleton",
    "candidates",
    "rejection",
    "minutiae",
]


@pytest.fixture(scope="module")
def print_image() -> np.ndarray:
    return impression(master_fingerprint(7, "left_loop"), seed=3)


def _angle_diff(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (a - b))))


def _matched_fraction(a: np.ndarray, b: np.ndarray, dist: float, angle_deg: float) -> float:
    """Share of minutiae in ``a`` with a minutia of ``b`` close in place and direction."""
    d = np.hypot(a["x"][:, None] - b["x"][None, :], a["y"][:, None] - b["y"][None, :])
    da = _angle_diff(a["theta"][:, None].astype(float), b["theta"][None, :].astype(float))
    return float(((d < dist) & (da < np.radians(angle_deg))).any(axis=1).mean())


def test_synthetic_print_gives_a_plausible_template(print_image: np.ndarray) -> None:
    t = extract(print_image, finger=2)
    assert t.minutiae.dtype == MINUTIA_DTYPE
    assert (t.width, t.height, t.dpi, t.finger) == (288, 384, 500, 2)
    assert 12 <= len(t) <= 120
    m = t.minutiae
    assert set(np.unique(m["kind"])) <= {ENDING, BIFURCATION}
    assert np.all((m["theta"] >= 0) & (m["theta"] < 2 * np.pi))
    assert np.all((m["x"] >= 0) & (m["x"] < t.width) & (m["y"] >= 0) & (m["y"] < t.height))
    assert np.all((m["quality"] >= 1) & (m["quality"] <= 100))
    # no two minutiae on top of each other
    d = np.hypot(m["x"][:, None] - m["x"][None, :], m["y"][:, None] - m["y"][None, :])
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 1.0


def test_extraction_is_deterministic(print_image: np.ndarray) -> None:
    a = extract(print_image).minutiae
    b = extract(print_image.copy()).minutiae
    assert np.array_equal(a, b)


def test_observer_sees_every_stage_in_order(print_image: np.ndarray) -> None:
    seen: list[tuple[str, np.ndarray]] = []
    t = extract(print_image, observer=lambda name, a: seen.append((name, a)))
    assert [name for name, _ in seen] == STAGES
    stages = dict(seen)
    for name in ("normalized", "mask", "orientation", "period", "enhanced", "skeleton"):
        assert stages[name].shape == print_image.shape, name
    assert stages["mask"].dtype == bool and 0.2 < stages["mask"].mean() < 0.9
    assert np.all((stages["orientation"] >= 0) & (stages["orientation"] < np.pi))
    # the skeleton is thinner than the ridges it came from
    assert stages["skeleton"].sum() < 0.5 * stages["binary"].sum()
    # the survivors are the candidates that were not rejected
    kept = stages["candidates"][stages["rejection"] == 0]
    assert np.array_equal(kept, stages["minutiae"])
    assert np.array_equal(stages["minutiae"], t.minutiae)


def test_rotated_image_gives_rotated_minutiae(print_image: np.ndarray) -> None:
    t = extract(print_image)
    r = extract(np.rot90(print_image))  # 90 degrees counter-clockwise on screen
    w = print_image.shape[1]
    expected = t.minutiae.copy()
    # (x, y) -> (y, w - 1 - x); an ISO angle (counter-clockwise) grows by 90 degrees
    expected["x"] = t.minutiae["y"]
    expected["y"] = w - 1 - t.minutiae["x"]
    expected["theta"] = np.mod(t.minutiae["theta"] + np.pi / 2, 2 * np.pi)
    assert (r.width, r.height) == (t.height, t.width)
    assert _matched_fraction(r.minutiae, expected, 6.0, 20.0) >= 0.7
    assert _matched_fraction(expected, r.minutiae, 6.0, 20.0) >= 0.7
    # and not by chance: without the rotation the sets do not agree
    assert _matched_fraction(r.minutiae, t.minutiae, 6.0, 20.0) < 0.3


VORTICES = [(70, 70, 1), (180, 80, -1), (80, 180, -1), (186, 176, 1), (128, 128, 1), (60, 128, -1)]


def _vortex_print() -> np.ndarray:
    """Horizontal ridges with a phase vortex (one ridge more on one side) at each point."""
    y, x = np.mgrid[0:256, 0:256].astype(float)
    phase = 2 * np.pi * y / 10.0
    for x0, y0, sense in VORTICES:
        phase = phase + sense * np.arctan2(y - y0, x - x0)
    ridge = np.cos(phase) > 0
    return np.where(ridge, 50, 210).astype(np.uint8)


def test_minutiae_at_ridge_vortices_with_iso_directions() -> None:
    img = _vortex_print()
    found = extract(img).minutiae
    inverted = extract(255 - img).minutiae  # ridges <-> valleys
    for x0, y0, sense in VORTICES:
        i = int(np.argmin(np.hypot(found["x"] - x0, found["y"] - y0)))
        j = int(np.argmin(np.hypot(inverted["x"] - x0, inverted["y"] - y0)))
        assert np.hypot(found["x"][i] - x0, found["y"][i] - y0) <= 5
        assert np.hypot(inverted["x"][j] - x0, inverted["y"][j] - y0) <= 5
        # an ending of the ridges is a bifurcation of the valleys, and ISO gives both the
        # same angle
        assert {int(found["kind"][i]), int(inverted["kind"][j])} == {ENDING, BIFURCATION}
        assert _angle_diff(found["theta"][i], inverted["theta"][j]) < np.radians(15)
        # direction: around a vortex of sense +1 the phase gains 2*pi, so beyond it to the
        # right there is one ridge (and one valley) more than to the left: an ending's ridge
        # runs on to the right, a bifurcation's arms open to the right; ISO points both there
        expected = 0.0 if sense > 0 else np.pi
        assert _angle_diff(found["theta"][i], expected) < np.radians(20), (x0, y0)


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (np.full((300, 300), 200, np.uint8), "blank"),
        (np.zeros((300, 300), np.uint8), "blank"),
        (np.random.default_rng(1).integers(0, 256, (300, 300)).astype(np.uint8), "not a finger"),
        (np.random.default_rng(2).normal(128, 50, (256, 320)).clip(0, 255).astype(np.uint8), "not"),
        (np.full((40, 300), 128, np.uint8), "too small"),
    ],
)
def test_not_a_fingerprint_is_refused(image: np.ndarray, problem: str) -> None:
    with pytest.raises(ImageError) as err:
        extract(image, where="scan.png")
    assert err.value.where == "scan.png"
    assert problem in err.value.problem


def test_three_dimensional_input_is_refused() -> None:
    with pytest.raises(ImageError, match="2-D"):
        extract(np.zeros((300, 300, 3), np.uint8))


def test_other_resolution_is_resampled(print_image: np.ndarray) -> None:
    # the same print scanned at 1000 ppi: minutiae come back in that image's own pixels
    from scipy import ndimage

    big = ndimage.zoom(print_image, 2, order=1)
    t = extract(print_image)
    t2 = extract(big, dpi=1000)
    assert (t2.width, t2.height, t2.dpi) == (big.shape[1], big.shape[0], 1000)
    halved = t2.minutiae.copy()
    halved["x"] /= 2
    halved["y"] /= 2
    assert _matched_fraction(halved, t.minutiae, 6.0, 25.0) >= 0.6


# --------------------------------------------------------------------------------------------
# FVC2002 (public data): reference minutiae written by a commercial extractor


@pytest.fixture(scope="module")
def fvc() -> object:
    root = data_dir() / "fvc2002"
    if not (root / "DB1_B").is_dir():
        pytest.skip(f"FVC2002 sets B not found under {root} (set SCOMM_DATA_DIR)")
    return root


@pytest.mark.shared_data
@pytest.mark.parametrize("db", ["DB1_B", "DB2_B", "DB3_B", "DB4_B"])
def test_agrees_with_the_reference_extractor_on_fvc2002(fvc: object, db: str) -> None:
    from pathlib import Path

    assert isinstance(fvc, Path)
    found = reference = agreed_ours = agreed_ref = 0
    for tif in sorted((fvc / db).glob("*.tif"))[::10]:
        img = read_image(tif)
        ours = extract(img, where=str(tif)).minutiae.copy()
        ref = read_iso19794(tif.with_suffix(".iso").read_bytes(), str(tif))[0].minutiae
        # the reference templates were made on images resampled to 300 x 400 pixels
        sx, sy = 300 / img.shape[1], 400 / img.shape[0]
        th = ours["theta"].astype(float)
        ours["x"] *= sx
        ours["y"] *= sy
        ours["theta"] = np.mod(np.arctan2(sy * np.sin(th), sx * np.cos(th)), 2 * np.pi)
        found += len(ours)
        reference += len(ref)
        agreed_ours += round(_matched_fraction(ours, ref, 10.0, 20.0) * len(ours))
        agreed_ref += round(_matched_fraction(ref, ours, 10.0, 20.0) * len(ref))
    # measured 0.70-0.83 (precision) and 0.62-0.81 (recall) over all 320 images
    assert agreed_ours / found >= 0.6
    assert agreed_ref / reference >= 0.5


def test_draw_stages_writes_a_png(print_image: np.ndarray, tmp_path: object) -> None:
    from pathlib import Path

    from PIL import Image

    from scomm.biometrics.inspect import draw_stages

    assert isinstance(tmp_path, Path)
    out = tmp_path / "stages.png"
    t = draw_stages(print_image, out, panels=True)
    assert np.array_equal(t.minutiae, extract(print_image).minutiae)
    with Image.open(out) as im:
        assert im.size[0] > im.size[1] * 3  # the print and three stage panels side by side
    assert list(tmp_path.iterdir()) == [out]  # no temp file left behind


def test_wsq_compression_keeps_most_minutiae(print_image: np.ndarray) -> None:
    # bookings arrive WSQ-compressed: the codec's loss must not change what is extracted much
    from scomm.biometrics.images import encode_wsq

    before = extract(print_image).minutiae
    after = extract(read_image(encode_wsq(print_image))).minutiae
    assert _matched_fraction(before, after, 6.0, 20.0) >= 0.8
    assert _matched_fraction(after, before, 6.0, 20.0) >= 0.8


def test_float_image_on_a_unit_scale_is_read_like_its_bytes(print_image: np.ndarray) -> None:
    as_bytes = extract(print_image).minutiae
    as_float = extract(print_image.astype(np.float64) / 255.0).minutiae
    assert np.array_equal(as_bytes, as_float)


def test_a_print_with_few_minutiae_gives_a_template_of_low_quality(
    print_image: np.ndarray,
) -> None:
    # A 120-pixel corner of the print shows five minutiae or so: once refused as "not a
    # fingerprint", now a template that says by its quality how little it holds.
    full = extract(print_image)
    corner = extract(print_image[100:220, 100:220])
    assert 0 < len(corner) < 10 < len(full)
    assert corner.quality is not None and full.quality is not None
    assert 0 < corner.quality < full.quality // 2


def test_template_quality_from_its_minutiae() -> None:
    from scomm.biometrics.extraction import GOOD_MINUTIAE, template_quality

    assert template_quality(np.zeros(0, np.uint8)) == 0
    many = np.full(2 * GOOD_MINUTIAE, 80, np.uint8)
    assert template_quality(many) == 80
    few = np.full(GOOD_MINUTIAE // 4, 80, np.uint8)
    assert template_quality(few) == 20
    assert template_quality(np.array([1], np.uint8)) == 1  # a minutia is never worth 0
