"""How a set of templates' minutiae lie: the figures generated templates are drawn to match.

:func:`~scomm.biometrics.synthetic.master_template` takes its minimum spacing and its senses'
lean from these figures measured on FVC2002's first impressions; ``benchmarks/biometrics.py``
(distractors part) reports them for the real and the generated templates side by side.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np

from scomm.biometrics.template import Template

# Neighbours compared for the agreement of their minutiae's senses: within this distance, along
# near-parallel ridges (|cos| of their direction difference above the second figure).
SENSE_NEIGHBOURS_PX, SENSE_PARALLEL_COS = 40.0, 0.8
HALF_PLANE_AXES = 36


def _positions(t: Template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = t.minutiae
    return tuple(m[k].astype(np.float64) for k in ("x", "y", "theta"))  # type: ignore[return-value]


def minutiae_sense(templates: Sequence[Template]) -> dict[str, float | int]:
    """Which way minutiae point along their ridges (senses drawn at random give 0.5, about 0.62
    at FVC counts, about 0.15, and no common direction):

    - ``same_sense_share``: how often two neighbours on near-parallel ridges point the same way;
    - ``majority_half_plane_share``: per template, the share of its minutiae in its majority
      half-plane (the best of ``HALF_PLANE_AXES`` axes), averaged;
    - ``mean_direction_length``: per template, the length of its mean direction vector, averaged;
    - ``mean_direction_deg`` and ``mean_direction_spread_deg``: the circular mean and circular
      standard deviation, over templates, of each template's mean direction (ISO angle).

    A cylinder holds its neighbours' directions, so these shape the chance similarity of two
    unrelated fingers."""
    agree = pairs = 0
    half_plane, lengths, directions = [], [], []
    axes = np.linspace(0.0, 2 * np.pi, HALF_PLANE_AXES, endpoint=False)
    for t in templates:
        x, y, theta = _positions(t)
        distance = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
        cos = np.cos(theta[:, None] - theta[None])
        near = np.triu((distance < SENSE_NEIGHBOURS_PX) & (np.abs(cos) > SENSE_PARALLEL_COS), 1)
        agree += int((cos[near] > 0).sum())
        pairs += int(near.sum())
        if len(theta):
            half_plane.append(float((np.cos(theta[None] - axes[:, None]) > 0).mean(axis=1).max()))
            mean = complex(np.exp(1j * theta).mean())
            lengths.append(abs(mean))
            directions.append(np.exp(1j * np.angle(mean)))
    overall = complex(np.mean(directions))
    return {
        "templates": len(templates),
        "neighbour_pairs": pairs,
        "same_sense_share": round(agree / pairs, 4) if pairs else 0.0,
        "majority_half_plane_share": round(statistics.fmean(half_plane), 4),
        "mean_direction_length": round(statistics.fmean(lengths), 4),
        "mean_direction_deg": round(math.degrees(np.angle(overall)) % 360, 1),
        "mean_direction_spread_deg": round(math.degrees(math.sqrt(-2 * math.log(abs(overall)))), 1),
    }


def minutiae_spacing(templates: Sequence[Template]) -> dict[str, float]:
    """Each minutia's distance to its nearest neighbour in its template (pixels): quantiles."""
    nearest = []
    for t in templates:
        x, y, _theta = _positions(t)
        if len(x) < 2:
            continue
        distance = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
        np.fill_diagonal(distance, np.inf)
        nearest.append(distance.min(axis=1))
    values = np.concatenate(nearest)
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (10, 50, 90)}
