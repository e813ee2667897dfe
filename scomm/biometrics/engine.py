"""The biometric engine the pipeline's FBI CJIS/IAFIS and DHS IDENT steps use.

One object, four verbs: enrol a subject's prints, remove them, identify a probe (ranked
candidates at or above the decision threshold), and build a throw-away engine for tests and
synthetic runs. Everything else (cylinders, screening, fusion, storage) is the gallery's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping

from scomm.biometrics.evaluation import threshold_for_fpir
from scomm.biometrics.gallery import Gallery
from scomm.biometrics.search import Candidate, PreparedProbe, SearchSettings, prepare_probe
from scomm.biometrics.template import Template

# Without a threshold set from a target FPIR (see ``calibrate``), a candidate must reach this
# fused score. On FVC2002 (commercial minutiae, 180 impostor comparisons, `scomm biometrics
# eval`) no impostor comparison reached 0.03, while the median genuine one is about 0.15: a
# one-finger search passes at 0.08 only with a clear mate, and a ten-print search much more so.
DEFAULT_THRESHOLD = 0.08

# A booking's search screens its four best fingers, sums each subject's screen scores over
# them, and fully compares those fingers for the best SHORTLIST subjects only: a mate screens
# well on several fingers, a stranger on one at most. Two-finger probes (the pipeline's
# fingers 2 and 7) against 10,000 generated two-finger subjects, 1,500 mates: the mate is
# among the 12 best summed screens for 99.87%, as often as among the 24 best templates of
# either finger (99.8%), for half the full comparisons (benchmarks/pipeline.py).
SCREEN_FINGERS = 4
SHORTLIST = 12
# Only subjects whose best screened finger reaches this share of the threshold get their other
# fingers compared: the fused score is a mean over the probe's fingers and the screened ones
# are the probe's best, so a subject below it almost never reaches the threshold, and a
# stranger's booking then costs no fusion at all.
FUSE_FLOOR = 0.5


class BiometricEngine:
    """Enrolment and identification over a :class:`Gallery`."""

    def __init__(self, gallery: Gallery, threshold: float | None = None) -> None:
        self.gallery = gallery
        if threshold is not None:
            self.threshold = float(threshold)
        elif gallery.threshold is not None:
            self.threshold = float(gallery.threshold)
        else:
            self.threshold = DEFAULT_THRESHOLD

    @classmethod
    def in_memory(cls, threshold: float | None = None) -> BiometricEngine:
        """An engine over a gallery kept in memory only (tests, synthetic runs)."""
        return cls(Gallery.in_memory(), threshold)

    @classmethod
    def on_disk(cls, threshold: float | None = None) -> BiometricEngine:
        """An engine over a new gallery in a temporary directory (kept until the process ends)."""
        directory = tempfile.mkdtemp(prefix="scomm-gallery-")
        return cls(Gallery.create(f"{directory}/gallery"), threshold)

    def enroll(self, subject_id: str, fingers: Mapping[int, Template]) -> None:
        self.gallery.enroll(subject_id, fingers)

    def remove(self, subject_id: str) -> None:
        self.gallery.remove(subject_id)

    def identify(self, probe: Mapping[int, Template], max_candidates: int = 10) -> list[Candidate]:
        """Candidates at or above the threshold, best first."""
        return self.identify_prepared(prepare_probe(probe), max_candidates)

    def identify_prepared(self, probe: PreparedProbe, max_candidates: int = 10) -> list[Candidate]:
        """:meth:`identify` for a probe prepared once (:func:`prepare_probe`), e.g. for
        searching the same prints in several databases."""
        return self.gallery.search_prepared(
            probe,
            max_candidates,
            threshold=self.threshold,
            settings=SearchSettings(
                screen_fingers=SCREEN_FINGERS,
                shortlist_subjects=SHORTLIST,
                fuse_subjects=max_candidates,
                fuse_floor=FUSE_FLOOR * self.threshold,
            ),
        )

    def calibrate(self, impostor_scores: list[float], target_fpir: float) -> float:
        """Set (and store in the gallery) the threshold that meets a target FPIR."""
        self.threshold = threshold_for_fpir(target_fpir, impostor_scores)
        self.gallery.set_threshold(self.threshold)
        return self.threshold
