"""Synthetic fingerprints: SFinGe-style masters and impressions, image and template paths."""

from __future__ import annotations

import numpy as np
import pytest

from scomm.biometrics import synthetic as S
from scomm.biometrics.extraction import extract
from scomm.biometrics.template import Template
from scomm.biometrics.template_statistics import minutiae_sense


def _aligned_pairs(a: Template, b: Template, dist: float = 12.0, angle_deg: float = 20.0) -> int:
    """Minutiae of ``a`` and ``b`` that pair up after the best rigid alignment.

    For each trial rotation (every 5 degrees), the pairs (i, j) whose directions agree with it
    vote for the translation taking i onto j; the best (rotation, translation) cell wins and
    minutiae are then paired one-to-one, greedily by distance.
    """
    ma, mb = a.minutiae, b.minutiae
    if len(ma) == 0 or len(mb) == 0:
        return 0
    ta, tb = ma["theta"].astype(float), mb["theta"].astype(float)
    xa, ya = ma["x"].astype(float), ma["y"].astype(float)
    xb, yb = mb["x"].astype(float), mb["y"].astype(float)
    pair_rot = tb[None, :] - ta[:, None]  # ISO angles turn counter-clockwise on screen
    best = (-1, 0.0, 0.0, 0.0)
    for r in np.radians(np.arange(0, 360, 5)):
        agree = np.abs(np.angle(np.exp(1j * (pair_rot - r)))) < np.radians(angle_deg)
        if not agree.any():
            continue
        # counter-clockwise on screen with y down: x' = x cos + y sin, y' = -x sin + y cos
        tx = (xb[None, :] - (xa * np.cos(r) + ya * np.sin(r))[:, None])[agree]
        ty = (yb[None, :] - (-xa * np.sin(r) + ya * np.cos(r))[:, None])[agree]
        cells, counts = np.unique(
            np.stack([np.floor(tx / dist), np.floor(ty / dist)], 1), axis=0, return_counts=True
        )
        k = int(np.argmax(counts))
        if counts[k] > best[0]:
            cx, cy = (cells[k] + 0.5) * dist
            best = (int(counts[k]), float(r), float(cx), float(cy))
    _, r, dx, dy = best
    px = xa * np.cos(r) + ya * np.sin(r) + dx
    py = -xa * np.sin(r) + ya * np.cos(r) + dy
    d = np.hypot(px[:, None] - xb[None, :], py[:, None] - yb[None, :])
    da = np.abs(np.angle(np.exp(1j * (ta[:, None] + r - tb[None, :]))))
    d[(da > np.radians(angle_deg)) | (d > 1.5 * dist)] = np.inf
    pairs = 0
    while np.isfinite(d).any():
        i, j = np.unravel_index(np.argmin(d), d.shape)
        d[i, :] = np.inf
        d[:, j] = np.inf
        pairs += 1
    return pairs


@pytest.fixture(scope="module")
def masters() -> list[S.MasterFingerprint]:
    return [S.master_fingerprint(seed, cls) for seed, cls in ((11, "whorl"), (12, "right_loop"))]


# --------------------------------------------------------------------------------------------
# The master and its orientation model


def test_master_is_deterministic_per_seed() -> None:
    a = S.master_fingerprint(5, size=(256, 224), iterations=15)
    b = S.master_fingerprint(5, size=(256, 224), iterations=15)
    c = S.master_fingerprint(6, size=(256, 224), iterations=15)
    assert a.finger_class == b.finger_class
    assert np.array_equal(a.ridges, b.ridges)
    assert not np.array_equal(a.ridges, c.ridges)


@pytest.mark.parametrize(
    ("finger_class", "cores", "deltas"),
    [
        ("arch", 0, 0),
        ("tented_arch", 1, 1),
        ("left_loop", 1, 1),
        ("right_loop", 1, 1),
        ("whorl", 2, 2),
    ],
)
def test_singular_points_by_class(finger_class: str, cores: int, deltas: int) -> None:
    rng = np.random.default_rng(0)
    c, d = S._singular_points(rng, finger_class, S._geometry(rng, S.DEFAULT_SIZE))
    assert (len(c), len(d)) == (cores, deltas)


def _poincare(theta: np.ndarray) -> float:
    """Turning of an orientation field along a closed path, in half-turns (Poincare index)."""
    steps = np.diff(np.append(theta, theta[0]).astype(float))
    steps = (steps + np.pi / 2) % np.pi - np.pi / 2  # orientations are modulo pi
    return float(steps.sum() / np.pi)


def test_sherlock_monro_field_has_the_right_singularities() -> None:
    rng = np.random.default_rng(3)
    geometry = S._geometry(rng, S.DEFAULT_SIZE)
    cores, deltas = S._singular_points(rng, "left_loop", geometry)
    a = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    around = {}
    for name, (px, py) in (("core", cores[0]), ("delta", deltas[0])):
        theta = S._orientation(
            px + 6 * np.cos(a), py + 6 * np.sin(a), "left_loop", cores, deltas, geometry
        )
        around[name] = _poincare(theta)
    # a core turns the ridges by +1/2 turn (index +1/2), a delta by -1/2 (image axes)
    assert around["core"] == pytest.approx(-around["delta"], abs=0.05)
    assert abs(around["core"]) == pytest.approx(1.0, abs=0.05)  # half-turns: pi per loop
    # far from both, the field is regular (index 0)
    far = S._orientation(
        20 + 5 * np.cos(a), 20 + 5 * np.sin(a), "left_loop", cores, deltas, geometry
    )
    assert _poincare(far) == pytest.approx(0.0, abs=0.05)


def test_master_has_ridges_at_its_period(masters: list[S.MasterFingerprint]) -> None:
    m = masters[1]
    inside = m.area & (np.abs(m.ridges) > 0)
    # grown ridges saturate: the pattern is almost binary inside the finger
    assert np.mean(np.abs(m.ridges[m.area]) > 0.9) > 0.8
    assert inside.mean() > 0.3
    # ridge count along a row through the middle agrees with the period map
    row = m.ridges.shape[0] // 2
    cols = np.nonzero(m.area[row])[0]
    line = m.ridges[row, cols[10] : cols[-10]] > 0
    ridges = np.count_nonzero(np.diff(line.astype(int)) == 1)
    expected = len(line) / float(np.median(m.period[row, cols]))
    assert 0.6 * expected <= ridges <= 1.5 * expected


# --------------------------------------------------------------------------------------------
# Impressions (image path)


def test_impression_is_a_grey_print_that_extracts(masters: list[S.MasterFingerprint]) -> None:
    img = S.impression(masters[0], seed=1)
    assert img.dtype == np.uint8 and img.shape == masters[0].ridges.shape
    assert np.array_equal(img, S.impression(masters[0], seed=1))
    assert not np.array_equal(img, S.impression(masters[0], seed=2))
    assert len(extract(img)) >= 15


def test_two_impressions_of_one_master_share_more_minutiae(
    masters: list[S.MasterFingerprint],
) -> None:
    a1, a2 = (extract(S.impression(masters[0], seed)) for seed in (21, 22))
    b1 = extract(S.impression(masters[1], 23))
    genuine = _aligned_pairs(a1, a2)
    impostor = max(_aligned_pairs(a1, b1), _aligned_pairs(a2, b1))
    assert genuine >= 12
    assert genuine >= 2 * impostor


def test_capture_geometry_maps_impression_minutiae_back_to_the_master(
    masters: list[S.MasterFingerprint],
) -> None:
    m = masters[1]
    master_minutiae = m.template().minutiae
    seed = 31
    found = extract(S.impression(m, seed)).minutiae
    c = S._capture(seed, m.ridges.shape[1], m.ridges.shape[0])
    x, y = S._unplace(c, found["x"].astype(float), found["y"].astype(float))
    d = np.hypot(
        x[:, None] - master_minutiae["x"][None, :], y[:, None] - master_minutiae["y"][None, :]
    )
    # most minutiae of the impression lie where the master has one
    assert np.mean(d.min(axis=1) < 8) > 0.7


def test_place_and_unplace_are_inverse() -> None:
    c = S._capture(4, 288, 384)
    x, y = np.meshgrid(np.linspace(0, 287, 9), np.linspace(0, 383, 11))
    ox, oy = S._place(c, x, y)
    bx, by = S._unplace(c, ox, oy)
    assert np.max(np.hypot(bx - x, by - y)) < 0.05


# --------------------------------------------------------------------------------------------
# Template path


def test_master_template_is_deterministic_and_plausible() -> None:
    a, b, c = S.master_template(9), S.master_template(9), S.master_template(10)
    assert np.array_equal(a.minutiae, b.minutiae)
    assert not np.array_equal(a.minutiae, c.minutiae)
    assert 15 <= len(a) <= 90
    m = a.minutiae
    d = np.hypot(m["x"][:, None] - m["x"][None, :], m["y"][:, None] - m["y"][None, :])
    np.fill_diagonal(d, np.inf)
    assert d.min() >= S.MIN_SPACING  # the minimum spacing holds
    # same class as the grown master of the same seed
    assert a.meta["class"] == S.master_fingerprint(9, size=(128, 96), iterations=1).finger_class


def test_master_template_senses_lean_as_real_fingers_do() -> None:
    """Senses point where the ridge flow spreads out, and so lean towards the base of the
    finger (FVC2002's first impressions: 254 degrees, ISO) and agree between neighbours more
    often than chance; drawn at random neither would hold, and the opposite sign of the
    divergence would lean them towards the fingertip."""
    sense = minutiae_sense([S.master_template(seed) for seed in range(1, 201)])
    # random senses: a mean direction of length about 1/sqrt(n) (0.15 here), pointing anywhere
    assert 0.2 < sense["mean_direction_length"] < 0.4
    assert 235 < sense["mean_direction_deg"] < 300
    assert 0.6 < sense["same_sense_share"] < 0.75


def test_sense_follows_the_sign_of_the_divergence() -> None:
    divergence = np.array([-0.05, -0.02, 0.02, 0.05] * 50)
    sense = S._sense(np.random.default_rng(1), divergence)
    assert set(np.unique(sense)) <= {0.0, np.pi}
    # the logistic slope: at 0.02/px forward about 1 / (1 + e^-6) of the time, at 0.05 always
    assert np.all(sense[3::4] == 0.0) and np.all(sense[0::4] == np.pi)
    assert np.mean(sense[2::4] == 0.0) > 0.9 and np.mean(sense[1::4] == np.pi) > 0.9


def test_divergence_of_a_single_core_field() -> None:
    """Sherlock-Monro with one core, 2 theta = arg(z - c): in polar coordinates the unit field
    t has radial part cos(theta - phi) = t.r and so divergence (t.r) / (2 r). The flow spreads
    where the orientation is taken pointing away from the core, and closes in towards it."""
    geometry = {"cx": 100.0, "cy": 100.0, "left": 80.0, "right": 80.0, "top": 80.0, "bottom": 80.0}
    core = np.array([[100.0, 100.0]])
    angle = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    x, y = 100 + 40 * np.cos(angle), 100 + 40 * np.sin(angle)

    def field(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        return S._orientation(px, py, "whorl", core, np.zeros((0, 2)), geometry)

    ridge, divergence = S._divergence(field, x, y)
    radial = np.cos(ridge) * np.cos(angle) + np.sin(ridge) * np.sin(angle)
    assert np.allclose(divergence, radial / (2 * 40), atol=2e-4)
    assert np.ptp(divergence) > 0.02  # not zero everywhere: both signs occur


def test_template_impression_genuine_versus_impostor() -> None:
    genuine, impostor = [], []
    for seed in range(6):
        master = S.master_template(100 + seed)
        other = S.master_template(200 + seed)
        a = S.template_impression(master, 1000 + seed, S.FVC_LIKE_MODEL)
        b = S.template_impression(master, 2000 + seed, S.FVC_LIKE_MODEL)
        o = S.template_impression(other, 3000 + seed, S.FVC_LIKE_MODEL)
        genuine.append(_aligned_pairs(a, b))
        impostor.append(_aligned_pairs(a, o))
    assert min(genuine) > max(impostor)


def test_template_impression_follows_the_capture_geometry() -> None:
    master = S.master_template(42)
    quiet = {"miss": 0.0, "spurious": 0.0, "position_sd": 0.0, "angle_sd": 0.0, "kind_swap": 0.0}
    seen = S.template_impression(master, 7, quiet)
    c = S._capture(7, master.width, master.height)
    x, y = S._unplace(c, seen.minutiae["x"].astype(float), seen.minutiae["y"].astype(float))
    mm = master.minutiae
    d = np.hypot(x[:, None] - mm["x"][None, :], y[:, None] - mm["y"][None, :])
    assert np.max(d.min(axis=1)) < 0.01  # every one is a master minutia moved by the capture
    visible = S._in_contact(c, mm["x"].astype(float), mm["y"].astype(float))
    assert len(seen) <= visible.sum()
    again = S.template_impression(master, 7)
    assert np.array_equal(again.minutiae, S.template_impression(master, 7).minutiae)


def test_template_impression_error_rates_follow_the_model() -> None:
    master = S.master_template(43, density=0.002)
    # without position noise a real minutia maps back exactly, a spurious one almost never
    model = {**S.FVC_LIKE_MODEL, "position_sd": 0.0}
    found, spurious, visible = 0, 0, 0
    for seed in range(30):
        t = S.template_impression(master, seed, model)
        c = S._capture(seed, master.width, master.height)
        x, y = S._unplace(c, t.minutiae["x"].astype(float), t.minutiae["y"].astype(float))
        mm = master.minutiae
        d = np.hypot(x[:, None] - mm["x"][None, :], y[:, None] - mm["y"][None, :])
        real = d.min(axis=1) < 0.05
        found += real.sum()
        spurious += (~real).sum()
        vx, vy = mm["x"].astype(float), mm["y"].astype(float)
        ox, oy = S._place(c, vx, vy)
        inside = (ox >= 0) & (oy >= 0) & (ox < master.width) & (oy < master.height)
        visible += (S._in_contact(c, vx, vy) & inside).sum()
    assert found / visible == pytest.approx(1 - model["miss"], abs=0.05)
    # spurious ones falling outside the frame are dropped: slightly fewer than the model's
    assert spurious / found == pytest.approx(model["spurious"], abs=0.08)


def test_class_draw_is_generator_choice_with_the_class_frequencies() -> None:
    """The class is drawn as Generator.choice draws it (so seeds keep their fingers), and
    leaves the generator where choice leaves it."""
    p = np.array(S.CLASS_FREQUENCIES) / sum(S.CLASS_FREQUENCIES)
    seen = set()
    for seed in range(3000):
        a, b = np.random.default_rng([seed, 0x5F1]), np.random.default_rng([seed, 0x5F1])
        expected = str(a.choice(S.FINGER_CLASSES, p=p))
        assert S._choose_class(b, None) == expected
        assert a.random() == b.random()
        seen.add(expected)
    assert seen == set(S.FINGER_CLASSES)
