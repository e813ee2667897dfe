"""Minutiae templates: the unit every part of the biometric engine exchanges.

Conventions (those of ISO/IEC 19794-2, so that import and export are lossless):

- ``x``, ``y``: pixels from the image's top-left corner, ``y`` pointing down, at ``dpi``.
- ``theta``: radians in [0, 2*pi), counter-clockwise from the horizontal axis pointing right
  (as seen on screen, i.e. with ``y`` down a direction ``(dx, dy)`` has
  ``theta = atan2(-dy, dx)``). For a ridge ending it points along the ridge, away from the end
  into the valley... as ISO defines it: the direction of the ridge flowing out of the minutia.
- ``kind``: :data:`ENDING`, :data:`BIFURCATION` or :data:`OTHER`.
- ``quality``: 0-100 (ISO's scale), 0 meaning unknown.

A template as a whole has a ``quality`` too: 0-100 (ISO's finger quality), how much a
comparison with it can be trusted; ``None`` where it was never assessed (a generated
template, an older file). Extraction always assesses it: an image that shows a finger always
gives a template, an empty one at worst, and a poor one says so by its quality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OTHER = 0
ENDING = 1
BIFURCATION = 2

FINGER_POSITIONS = range(1, 11)  # ANSI/NIST-ITL finger positions of a ten-print
UNKNOWN_FINGER = 0  # a probe finger of unknown position is searched against every position

MINUTIA_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("theta", "<f4"), ("kind", "u1"), ("quality", "u1")]
)


@dataclass(frozen=True)
class Template:
    """The minutiae of one finger impression."""

    minutiae: np.ndarray  # structured array of MINUTIA_DTYPE
    width: int
    height: int
    dpi: int = 500
    finger: int = 0  # ANSI/NIST finger position 1-10 (1 = right thumb), 0 unknown
    meta: dict[str, str] = field(default_factory=dict, compare=False)
    quality: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.minutiae.dtype != MINUTIA_DTYPE:
            object.__setattr__(self, "minutiae", np.asarray(self.minutiae).astype(MINUTIA_DTYPE))

        if self.quality is not None and not 0 <= self.quality <= 100:
            raise ValueError(f"template quality must be 0-100 or None, got {self.quality}")

    def __len__(self) -> int:
        return int(self.minutiae.shape[0])

    @property
    def xy(self) -> np.ndarray:
        return np.stack([self.minutiae["x"], self.minutiae["y"]], axis=1)
