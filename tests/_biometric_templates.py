"""Generated minutiae templates for the biometric tests: a random finger and its impressions."""

from __future__ import annotations

import numpy as np

from scomm.biometrics.template import MINUTIA_DTYPE, Template


def random_template(seed: int, n: int = 40, width: int = 300, height: int = 400) -> Template:
    """Minutiae spread over an elliptic finger area, at least 12 px apart."""
    rng = np.random.default_rng(seed)
    points: list[tuple[float, float]] = []
    while len(points) < n:
        x, y = rng.uniform(20, width - 20), rng.uniform(20, height - 20)
        dx, dy = (x - width / 2) / (width / 2 - 10), (y - height / 2) / (height / 2 - 10)
        inside = dx * dx + dy * dy
        if inside <= 1 and all((x - a) ** 2 + (y - b) ** 2 >= 144 for a, b in points):
            points.append((x, y))
    m = np.zeros(n, MINUTIA_DTYPE)
    m["x"] = [p[0] for p in points]
    m["y"] = [p[1] for p in points]
    m["theta"] = rng.uniform(0, 2 * np.pi, n)
    m["kind"] = rng.integers(1, 3, n)
    return Template(m, width, height)


def impression(
    t: Template,
    seed: int,
    rotate: float = 0.3,
    shift: float = 25.0,
    drop: float = 0.2,
    jitter: float = 2.0,
    spurious: int = 3,
    angle_noise: float = 0.08,
) -> Template:
    """The same finger seen again: rotated, shifted, some minutiae lost, jittered, a few false."""
    rng = np.random.default_rng(seed)
    m = t.minutiae[rng.random(len(t)) >= drop].copy()
    angle = rng.uniform(-rotate, rotate)
    cx, cy = t.width / 2, t.height / 2
    dx, dy = rng.uniform(-shift, shift, 2)
    # theta is counter-clockwise with y down, so a rotation by +angle on screen turns
    # (x, y) by -angle in image coordinates.
    c, s = np.cos(angle), np.sin(angle)
    x = m["x"] - cx
    y = m["y"] - cy
    m["x"] = cx + c * x + s * y + dx + rng.normal(0, jitter, len(m))
    m["y"] = cy - s * x + c * y + dy + rng.normal(0, jitter, len(m))
    m["theta"] = np.mod(m["theta"] + angle + rng.normal(0, angle_noise, len(m)), 2 * np.pi)
    extra = random_template(seed + 10_000, spurious, t.width, t.height).minutiae
    return Template(np.concatenate([m, extra]), t.width, t.height)
