"""The MCC matcher: invariance, mates above non-mates, range and symmetry, FVC2002 accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from _biometric_templates import impression, random_template

from scomm.biometrics import matcher
from scomm.biometrics.template import MINUTIA_DTYPE, Template
from scomm.errors import TemplateError


def test_rigid_motion_keeps_the_score_of_a_template_with_itself() -> None:
    t = random_template(1)
    p = matcher.prepare(t)
    moved = matcher.prepare(impression(t, 5, drop=0, jitter=0, spurious=0, angle_noise=0))
    assert matcher.compare(p, p) > 0.9
    assert matcher.compare(p, moved) == pytest.approx(matcher.compare(p, p), abs=0.05)


def test_directions_that_disagree_with_positions_do_not_match() -> None:
    t = random_template(2)
    m = t.minutiae.copy()
    m["theta"] = np.mod(m["theta"] + 0.6, 2 * np.pi)  # turned minutiae, unmoved positions
    p = matcher.prepare(t)
    assert matcher.compare(p, matcher.prepare(Template(m, t.width, t.height))) < 0.2


@pytest.mark.parametrize("seed", range(6))
def test_a_mate_scores_above_every_non_mate(seed: int) -> None:
    finger = random_template(seed)
    probe = matcher.prepare(impression(finger, 100 + seed))
    mate = matcher.compare(probe, matcher.prepare(finger))
    others = [
        matcher.compare(probe, matcher.prepare(random_template(1000 + 10 * seed + k)))
        for k in range(8)
    ]
    assert mate > 2 * max(others)


def test_scores_lie_in_the_unit_interval_and_are_symmetric() -> None:
    prepared = [matcher.prepare(random_template(s)) for s in range(3)]
    prepared += [matcher.prepare(impression(random_template(0), s)) for s in range(3)]
    for a in prepared:
        for b in prepared:
            ab, ba = matcher.compare(a, b), matcher.compare(b, a)
            assert 0.0 <= ab <= 1.0
            assert ab == pytest.approx(ba, abs=0.02)


def test_compare_many_gives_what_compare_gives() -> None:
    probe = matcher.prepare(impression(random_template(3), 7))
    gallery = [matcher.prepare(random_template(s)) for s in range(2, 6)]
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in gallery])]).astype(np.int64)
    scores = matcher.compare_many(
        probe,
        np.concatenate([g.x for g in gallery]),
        np.concatenate([g.y for g in gallery]),
        np.concatenate([g.theta for g in gallery]),
        np.concatenate([g.bits for g in gallery]),
        np.concatenate([g.masks for g in gallery]),
        offsets,
        np.array([3, 1, 0]),
    )
    expected = [matcher.compare(probe, gallery[i]) for i in (3, 1, 0)]
    assert scores.tolist() == pytest.approx(expected, abs=1e-6)


def test_empty_and_tiny_templates_score_zero_without_failing() -> None:
    empty = matcher.prepare(Template(np.zeros(0, MINUTIA_DTYPE), 300, 400))
    lone = matcher.prepare(random_template(4, n=1))
    full = matcher.prepare(random_template(4))
    assert len(empty) == 0
    assert len(lone) == 0  # one minutia has no neighbours: no valid cylinder
    assert matcher.compare(empty, full) == 0.0
    assert matcher.compare(full, lone) == 0.0


def test_non_finite_minutiae_are_a_template_error() -> None:
    t = random_template(5)
    m = t.minutiae.copy()
    m["x"][3] = np.nan
    with pytest.raises(TemplateError):
        matcher.prepare(Template(m, 300, 400))


def test_cylinder_bits_lie_inside_their_validity_mask() -> None:
    p = matcher.prepare(random_template(6))
    masks = np.tile(p.masks, (1, matcher.ND))
    assert np.all(p.bits & ~masks == 0)
    assert np.all(p.bits.any(axis=1))


def test_vector_cylinder_counts_match_plain_bit_counting() -> None:
    # The kernel counts a pair's cells 256 bits at a time, with layer-count planes, reading
    # the rows in place; a plain count over the unpacked bits must agree, for random cylinders
    # and masks.
    import numba

    rng = np.random.default_rng(5)
    words = matcher.CYLINDER_WORDS
    layer = matcher.WORDS_PER_LAYER
    bits = rng.integers(0, 2**63, size=(40, words), dtype=np.uint64)
    masks = rng.integers(0, 2**63, size=(40, layer), dtype=np.uint64)
    masks[::3] = np.iinfo(np.uint64).max  # some full masks, as inside a print
    bits &= np.tile(masks, (1, matcher.ND))  # a cylinder's cells lie inside its own mask
    planes = np.zeros((40, 3 * layer), dtype=np.uint64)
    matcher._layer_planes(bits, planes)

    @numba.njit
    def counts(i: int, j: int) -> tuple[int, int, int, int]:
        return matcher._cylinder_counts(bits, i, bits, j, masks, masks, planes, planes)

    def ones(a: np.ndarray) -> int:
        return int(np.unpackbits(a.view(np.uint8)).sum())

    for i, j in [(0, 1), (2, 3), (3, 6), (7, 7), (10, 39)]:
        common = masks[i] & masks[j]
        full = np.tile(common, matcher.ND)
        expected = (
            ones(common),
            ones(bits[i] & full),
            ones(bits[j] & full),
            ones((bits[i] ^ bits[j]) & full),
        )
        assert tuple(int(v) for v in counts(i, j)) == expected


def _pairing_share(probe: Template, candidate: Template, seeds: list[tuple[int, int]]) -> float:
    def sides(t: Template) -> list[np.ndarray]:
        m = t.minutiae  # y up, as matcher.prepare turns it
        return [m["x"].astype(np.float32), -m["y"].astype(np.float32)] + [
            f(m["theta"]).astype(np.float32) for f in (np.cos, np.sin)
        ]

    fw, iw, _ = matcher._workspace(len(probe), len(candidate))
    pa = np.array([i for i, _ in seeds], dtype=np.int64)
    pb = np.array([j for _, j in seeds], dtype=np.int64)
    ax, ay, acos, asin = sides(probe)
    bx, by, bcos, bsin = sides(candidate)
    share = matcher._paired_share(
        ax, ay, acos, asin, bx, by, bcos, bsin, pa, pb, len(seeds), fw, iw
    )
    return float(share)


def test_pairing_counts_the_minutiae_that_coincide_once_aligned() -> None:
    finger = random_template(7)
    moved = impression(finger, 8, drop=0, jitter=0, spurious=0, angle_noise=0)
    half = Template(moved.minutiae[::2].copy(), moved.width, moved.height)
    # Aligned on a true pair (minutia 0 is kept as the half's 0), every half minutia is paired:
    # 20^2 / (40 * 20).
    assert _pairing_share(finger, half, [(0, 0)]) == pytest.approx(0.5)
    # Aligned on a wrong pair almost nothing coincides; the best of the alignments is kept.
    assert _pairing_share(finger, half, [(0, 3)]) < 0.1
    assert _pairing_share(finger, half, [(0, 3), (2, 1)]) == pytest.approx(0.5)
    # A minutia that lies in place but points elsewhere is no counterpart.
    turned = half.minutiae.copy()
    turned["theta"][1:] = np.mod(turned["theta"][1:] + 0.6, 2 * np.pi)
    assert _pairing_share(finger, Template(turned, half.width, half.height), [(0, 0)]) < 0.01
