"""Accuracy by the FVC protocol (Fingerprint Verification Competition, Maio et al. 2002).

A set (``DB1_B`` ...) holds ``<finger>_<impression>.tif`` (and, for FVC2002 here, the
``.iso`` minutiae a commercial extractor wrote beside each image). The protocol:

- genuine comparisons: every pair of impressions of the same finger, each pair once
  (10 fingers x C(8, 2) = 280 per set);
- impostor comparisons: the first impressions of every pair of different fingers
  (C(10, 2) = 45 per set);
- error rates against a threshold ``t`` (a comparison *matches* when ``score >= t``):
  FMR(t) the share of impostor comparisons that match, FNMR(t) the share of genuine ones that
  do not; EER where the two cross; FMR100 / FMR1000 the lowest FNMR with FMR <= 1% / 0.1%;
  ZeroFMR the lowest FNMR with no impostor match.

With only 45 impostor comparisons per set, FMR moves in steps of 2.2%: FMR100 and FMR1000 are
then both "FNMR at zero impostor matches", as in FVC2002's own reports for the B sets. So one
impostor pair moves a set's EER by about a percentage point, and the rates are also given
against *every* impostor pair (any two impressions of different fingers, 2,880 per set): a
steadier figure to compare two versions of the engine by (``every_impostor``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from scomm.biometrics import matcher
from scomm.biometrics.template import Template
from scomm.errors import DataError, InputError
from scomm.files import write_atomic

_NAME = re.compile(r"^(\d+)_(\d+)$")
TEMPLATE_SOURCES = ("iso", "extract")


@dataclass(frozen=True)
class ErrorRates:
    """Error rates of one set of genuine and impostor scores (rates as fractions)."""

    eer: float
    eer_threshold: float
    fmr100: float
    fmr1000: float
    zero_fmr: float
    genuine: int
    impostor: int


@dataclass
class SetResult:
    name: str
    rates: ErrorRates
    genuine_scores: list[float] = field(repr=False)
    impostor_scores: list[float] = field(repr=False)
    failures: list[str] = field(default_factory=list)  # samples that gave no template
    extract_ms: list[float] = field(default_factory=list, repr=False)
    every_impostor: ErrorRates | None = None  # the same genuine scores against every impostor


@dataclass
class Evaluation:
    dataset: str
    templates: str
    sets: list[SetResult]

    @property
    def average_eer(self) -> float:
        return float(np.mean([s.rates.eer for s in self.sets])) if self.sets else float("nan")

    @property
    def average_eer_every_impostor(self) -> float:
        rates = [s.every_impostor.eer for s in self.sets if s.every_impostor is not None]
        return float(np.mean(rates)) if rates else float("nan")

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "templates": self.templates,
            "protocol": "FVC: genuine = all impression pairs of a finger, impostor = first "
            "impressions of different fingers; a comparison matches when score >= threshold",
            "average_eer": self.average_eer,
            "average_eer_every_impostor": self.average_eer_every_impostor,
            "sets": {
                s.name: {
                    **asdict(s.rates),
                    "every_impostor": asdict(s.every_impostor) if s.every_impostor else None,
                    "failures": s.failures,
                    "genuine_scores": s.genuine_scores,
                    "impostor_scores": s.impostor_scores,
                }
                for s in self.sets
            },
        }


def error_rates(
    genuine: np.ndarray | list[float], impostor: np.ndarray | list[float]
) -> ErrorRates:
    """EER, FMR100, FMR1000 and ZeroFMR of genuine and impostor similarity scores."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        raise InputError("scores", "need both genuine and impostor scores")
    # Every distinct score is a candidate threshold, plus one above them all.
    thresholds = np.unique(np.concatenate([g, i, [np.nextafter(max(g[-1], i[-1]), np.inf)]]))
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size  # share with score >= t
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size  # share with score < t
    # EER as FVC defines it: t1 the highest threshold with FNMR <= FMR, t2 the lowest with
    # FNMR >= FMR; of the two, the one with the smaller FMR + FNMR gives an interval
    # [low, high] of possible EERs, and the EER is its midpoint.
    t1 = int(np.flatnonzero(fnmr <= fmr)[-1])
    t2 = int(np.flatnonzero(fnmr >= fmr)[0])
    if fnmr[t1] + fmr[t1] <= fnmr[t2] + fmr[t2]:
        low, high, k = fnmr[t1], fmr[t1], t1
    else:
        low, high, k = fmr[t2], fnmr[t2], t2
    eer = (low + high) / 2.0

    def best_fnmr(limit: float) -> float:
        ok = fmr <= limit + 1e-12
        return float(fnmr[ok].min())

    return ErrorRates(
        eer=float(eer),
        eer_threshold=float(thresholds[k]),
        fmr100=best_fnmr(0.01),
        fmr1000=best_fnmr(0.001),
        zero_fmr=best_fnmr(0.0),
        genuine=int(g.size),
        impostor=int(i.size),
    )


def _samples(set_dir: Path) -> dict[tuple[int, int], Path]:
    """``(finger, impression) -> image`` of one set."""
    out = {}
    for path in sorted(set_dir.glob("*.tif")):
        m = _NAME.match(path.stem)
        if m:
            out[(int(m.group(1)), int(m.group(2)))] = path
    return out


def load_templates(
    set_dir: Path, source: str
) -> tuple[dict[tuple[int, int], Template], list[str], list[float]]:
    """A set's templates from the ``.iso`` files or by our own extraction of the images.

    Returns the templates, the samples that gave none (with why), and extraction times (ms).
    """
    from scomm.biometrics.formats import read_iso19794

    if source not in TEMPLATE_SOURCES:
        raise InputError("--templates", f"must be one of {', '.join(TEMPLATE_SOURCES)}")
    templates: dict[tuple[int, int], Template] = {}
    failures: list[str] = []
    times: list[float] = []
    for key, image_path in _samples(set_dir).items():
        if source == "iso":
            iso = image_path.with_suffix(".iso")
            if not iso.exists():
                raise DataError(str(iso), "no ISO 19794-2 template beside the image")
            templates[key] = read_iso19794(iso.read_bytes(), str(iso))[0]
        else:
            from scomm.biometrics.extraction import extract
            from scomm.biometrics.images import read_image
            from scomm.errors import ImageError

            image = read_image(image_path)
            start = time.perf_counter()
            try:
                templates[key] = extract(image, where=str(image_path))
            except ImageError as exc:
                failures.append(f"{image_path.name}: {exc.problem}")
                continue
            finally:
                times.append((time.perf_counter() - start) * 1000.0)
    return templates, failures, times


def fvc_pairs(
    keys: list[tuple[int, int]],
) -> tuple[
    list[tuple[tuple[int, int], tuple[int, int]]], list[tuple[tuple[int, int], tuple[int, int]]]
]:
    """The FVC genuine and impostor comparison pairs among the available samples."""
    fingers = sorted({f for f, _ in keys})
    present = set(keys)
    genuine: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for f in fingers:
        impressions = sorted(i for g, i in keys if g == f)
        genuine.extend(((f, a), (f, b)) for a, b in combinations(impressions, 2))
    firsts = [(f, min(i for g, i in keys if g == f)) for f in fingers]
    impostor = [(a, b) for a, b in combinations(firsts, 2) if a in present and b in present]
    return genuine, impostor


def every_impostor_pair(
    keys: list[tuple[int, int]],
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every pair of impressions of different fingers, each pair once."""
    return [(a, b) for a, b in combinations(sorted(keys), 2) if a[0] != b[0]]


def evaluate_set(
    set_dir: Path, source: str = "iso", progress: Callable[[str], None] | None = None
) -> SetResult:
    """Run the FVC protocol on one set. A sample without a template fails every comparison."""
    templates, failures, times = load_templates(set_dir, source)
    samples = _samples(set_dir)
    if not samples:
        raise DataError(str(set_dir), "no <finger>_<impression>.tif images")
    prepared = {key: matcher.prepare(t) for key, t in templates.items()}
    genuine_pairs, impostor_pairs = fvc_pairs(list(samples))

    def score(a: tuple[int, int], b: tuple[int, int]) -> float:
        if a not in prepared or b not in prepared:
            return 0.0  # FVC counts a failure to enrol as a failed comparison
        return matcher.compare(prepared[a], prepared[b])

    genuine = [score(a, b) for a, b in genuine_pairs]
    impostor = [score(a, b) for a, b in impostor_pairs]
    every = [score(a, b) for a, b in every_impostor_pair(list(samples))]
    if progress is not None:
        progress(set_dir.name)
    return SetResult(
        set_dir.name,
        error_rates(genuine, impostor),
        genuine,
        impostor,
        failures,
        times,
        error_rates(genuine, every) if every else None,
    )


def evaluate(
    dataset: Path, source: str = "iso", progress: Callable[[str], None] | None = None
) -> Evaluation:
    """Run the FVC protocol on every ``DB*_B`` (or ``DB*``) set of a dataset directory."""
    if not dataset.is_dir():
        raise DataError(str(dataset), "no such dataset directory")
    sets = sorted(p for p in dataset.iterdir() if p.is_dir() and p.name.upper().startswith("DB"))
    if not sets:
        raise DataError(str(dataset), "no DB* sets inside")
    return Evaluation(str(dataset), source, [evaluate_set(s, source, progress) for s in sets])


def det_points(
    genuine: Sequence[float] | np.ndarray, impostor: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A DET curve's points (FMR, FNMR), one per distinct score as threshold.

    A rate of zero cannot be drawn on log axes, and with ``n`` comparisons nothing below
    ``1 / n`` can be measured: such points are drawn at that floor (``1 / impostor
    comparisons`` for FMR, ``1 / genuine comparisons`` for FNMR), never below it.
    """
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        raise InputError("scores", "need both genuine and impostor scores")
    thresholds = np.unique(np.concatenate([g, i]))
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size
    return np.maximum(fmr, 1.0 / i.size), np.maximum(fnmr, 1.0 / g.size)


def draw_det(evaluation: Evaluation, path: Path) -> None:
    """DET curves (FNMR against FMR, both on log axes) of every set, to a PNG; rates of zero
    at the measurable floor (:func:`det_points`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    floors = []
    for s in evaluation.sets:
        fmr, fnmr = det_points(s.genuine_scores, s.impostor_scores)
        floors.append((1.0 / len(s.impostor_scores), 1.0 / len(s.genuine_scores)))
        ax.plot(fmr, fnmr, drawstyle="steps-post", label=f"{s.name} (EER {100 * s.rates.eer:.2f}%)")
    if floors:
        ax.set_xlim(left=min(f for f, _ in floors))
        ax.set_ylim(bottom=min(f for _, f in floors))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FMR (false match rate)")
    ax.set_ylabel("FNMR (false non-match rate)")
    ax.set_title(f"DET, {Path(evaluation.dataset).name}, {evaluation.templates} templates")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, fig.savefig)
    finally:
        plt.close(fig)


def threshold_for_fpir(target_fpir: float, impostor_scores: Sequence[float] | np.ndarray) -> float:
    """The lowest decision threshold whose false positive identification rate is <= target.

    ``impostor_scores`` are the top scores of searches whose subject is not enrolled; a search
    is a false positive when its top score reaches the threshold (``score >= threshold``).
    """
    scores = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    if not 0.0 <= target_fpir <= 1.0:
        raise InputError("target_fpir", f"must be within [0, 1], got {target_fpir}")
    if scores.size == 0:
        raise InputError("impostor_scores", "no impostor scores to set a threshold from")
    allowed = int(math.floor(target_fpir * scores.size + 1e-9))  # false positives allowed
    if allowed >= scores.size:
        return float(scores[-1])
    # Strictly above the (allowed+1)-th highest score: at most ``allowed`` scores reach it.
    return float(np.nextafter(scores[allowed], np.inf))
