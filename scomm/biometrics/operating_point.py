"""The biometric engine's measured operating point: how often a ten-print search misses an
enrolled person, and how often a non-mate's prints score as a match, at the engine's threshold.

The national simulation does not search prints (it books millions of people); it draws each
booking's search result from these rates. They are measured, not assumed:
``scomm biometrics operating-point`` runs the pipeline's engine
(:class:`~scomm.biometrics.engine.BiometricEngine`, its screen, shortlist and fusion as they
are) on synthetic ten-prints, and writes ``operating_point.json`` beside this module, which
:func:`operating_point` reads.

The measurement (:func:`measure`): ``gallery_size`` synthetic people, ten fingers each
(:func:`~scomm.biometrics.synthetic.master_template`), enrolled from one capture
(:func:`~scomm.biometrics.synthetic.template_impression`, ``IMPRESSION_MODEL``: its genuine
scores are close to FVC2002's commercial-minutiae ones, see benchmarks/results/biometrics.json)
and searched with a second capture of all ten fingers.

- **miss rate** (false negative identification rate, FNIR): share of those searches whose first
  candidate at or above the threshold is not the person searched (none, or someone else): the
  result the pipeline acts on (``max_candidates=1``).
- **false match rate** (FMR, per subject): the probability that one enrolled non-mate's fused
  ten-print score (the mean over the ten fingers of the full comparison, as the search fuses)
  reaches the threshold. Each search's probe is also compared, without the screen, with
  ``impostors_per_search`` other enrolled people: impostor trials. When none reaches the
  threshold the figure is the 95% upper bound 3/trials (the rule of three) and
  ``false_match_rate_is_upper_bound`` says so; the miss rate is bounded the same way.
- **false positive identification rate** in a gallery of N: :func:`false_positive_identification_rate`,
  ``1 - (1 - FMR)^N``, every enrolled person an independent chance. For the engine this is an
  upper bound too: its screen lets only a shortlist of the gallery reach full comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from scomm.biometrics.template import Template
from scomm.errors import DataError

DATA = Path(__file__).with_name("operating_point.json")
FINGERS = tuple(range(1, 11))
RULE_OF_THREE = 3.0  # -ln(0.05): the 95% upper bound of a rate after 0 events in n trials is 3/n


@dataclass(frozen=True)
class OperatingPoint:
    """Ten-print identification by the engine at ``threshold``, as measured."""

    threshold: float
    probe_fingers: int  # fingers in each search's probe (a ten-print: 10)
    gallery_size: int  # enrolled people in the searched gallery
    genuine_searches: int  # searches of an enrolled person's second capture
    misses: int  # of those, first candidate not the person (or none)
    miss_rate: float  # FNIR: misses / genuine_searches (3 / searches if none: see below)
    miss_rate_is_upper_bound: bool  # no miss observed: miss_rate is the 95% upper bound
    impostor_trials: int  # fused ten-print comparisons of a probe with a non-mate
    false_matches: int  # of those, reaching the threshold
    false_match_rate: float  # per subject: false_matches / impostor_trials, or 3 / trials
    false_match_rate_is_upper_bound: bool  # no false match observed: 95% upper bound
    impostor_score_max: float  # highest fused impostor score seen
    impostor_score_mean: float  # the impostor scores' mean and standard deviation: how far
    impostor_score_sd: float  # below the threshold they lie, beyond what a bound can say
    genuine_score_median: float  # median fused score of the mates found
    impression_model: dict[str, float]  # the synthetic capture model's error rates
    seed: int
    command: str  # what produced these figures
    measured_on: str  # UTC date
    seconds: float  # the measurement's wall time
    note: str = field(default="")

    def false_positive_identification_rate(self, gallery_size: int) -> float:
        """FPIR of a search of a stranger in a gallery of ``gallery_size``: 1 - (1 - FMR)^N."""
        return fpir(self.false_match_rate, gallery_size)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fpir(false_match_rate: float, gallery_size: int) -> float:
    """``1 - (1 - false_match_rate)^gallery_size``: the chance that a search of someone not
    enrolled meets at least one false match, every enrolled person an independent chance."""
    if gallery_size < 0:
        raise ValueError(f"gallery size must be >= 0, got {gallery_size}")
    if false_match_rate >= 1:
        return 1.0
    # -expm1(N log1p(-fmr)) is 1 - (1 - fmr)^N without cancellation when fmr is tiny.
    return float(-math.expm1(gallery_size * math.log1p(-false_match_rate)))


def rate(events: int, trials: int) -> tuple[float, bool]:
    """``events / trials``, or the rule-of-three 95% upper bound ``3 / trials`` when no event
    was observed; the flag says which."""
    if trials <= 0:
        raise ValueError("no trials")
    if events == 0:
        return RULE_OF_THREE / trials, True
    return events / trials, False


@cache
def _load(path: Path) -> OperatingPoint:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(
            str(path), "missing: run `scomm biometrics operating-point` to measure it"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(str(path), f"unreadable: {exc}") from None
    names = {f.name for f in fields(OperatingPoint)}
    missing = {f.name for f in fields(OperatingPoint) if f.name != "note"} - set(data)
    if missing or not set(data) <= names:
        raise DataError(
            str(path),
            f"not an operating point (missing {sorted(missing)}, unknown "
            f"{sorted(set(data) - names)})",
        )
    return OperatingPoint(**data)


def operating_point(path: Path | None = None) -> OperatingPoint:
    """The engine's measured operating point (``operating_point.json`` beside this module)."""
    return _load(DATA if path is None else Path(path))


def false_positive_identification_rate(gallery_size: int) -> float:
    """Probability that a search of someone not enrolled returns a candidate, in a gallery of
    ``gallery_size`` people: ``1 - (1 - FMR)^N`` with the measured per-subject FMR."""
    return operating_point().false_positive_identification_rate(gallery_size)


def _seed(seed: int, person: int, finger: int) -> int:
    return (seed * 2**24 + person) * 16 + finger


def measure(
    gallery_size: int = 3000,
    impostors_per_search: int = 64,
    seed: int = 2008,
    *,
    genuine_searches: int | None = None,
    command: str = "",
    progress: Callable[[str, int, int], None] | None = None,
) -> OperatingPoint:
    """Measure the operating point with the real engine (see the module's description).

    ``genuine_searches`` people (all of them by default) are searched; each search's probe
    is also compared with the ``impostors_per_search`` people enrolled after that person
    (cyclically), the impostor trials. Every draw comes from ``seed``.
    """
    from scomm.biometrics.engine import DEFAULT_THRESHOLD, BiometricEngine
    from scomm.biometrics.gallery import prepare_probe
    from scomm.biometrics.synthetic import IMPRESSION_MODEL, master_template, template_impression

    searches = gallery_size if genuine_searches is None else genuine_searches
    if not 1 <= searches <= gallery_size:
        raise ValueError(f"genuine searches must be 1..{gallery_size}, got {searches}")
    if not 0 < impostors_per_search < gallery_size:
        raise ValueError(f"impostors per search must be 1..{gallery_size - 1}")
    started = time.perf_counter()
    engine = BiometricEngine.in_memory(DEFAULT_THRESHOLD)
    ids = [f"P{k:07d}" for k in range(gallery_size)]
    masters: list[dict[int, Template]] = []  # each person's fingers, kept for the second capture
    chunk = 256
    for first in range(0, gallery_size, chunk):
        batch = []
        for k in range(first, min(first + chunk, gallery_size)):
            masters.append({f: master_template(_seed(seed, k, f)) for f in FINGERS})
            captures = {
                f: template_impression(t, 2 * _seed(seed, k, f)) for f, t in masters[k].items()
            }
            batch.append((ids[k], captures))
        engine.gallery.enroll_many(batch)
        if progress:
            progress("enrol", min(first + chunk, gallery_size), gallery_size)
    misses = 0
    genuine: list[float] = []
    impostor: list[np.ndarray] = []
    for k in range(searches):
        probe = prepare_probe(
            {f: template_impression(t, 2 * _seed(seed, k, f) + 1) for f, t in masters[k].items()}
        )
        found = engine.identify_prepared(probe, max_candidates=1)
        if found and found[0].subject_id == ids[k]:
            genuine.append(found[0].score)
        else:
            misses += 1
        others = [ids[(k + j) % gallery_size] for j in range(1, impostors_per_search + 1)]
        impostor.append(engine.gallery.verify(probe, others))
        if progress:
            progress("search", k + 1, searches)
    scores = np.concatenate(impostor)
    trials = int(scores.shape[0])
    false_matches = int(np.count_nonzero(scores >= engine.threshold))
    miss_rate, miss_bound = rate(misses, searches)
    fmr, fmr_bound = rate(false_matches, trials)
    notes = []
    for name, bound, n in (("miss", miss_bound, searches), ("false match", fmr_bound, trials)):
        if bound:
            notes.append(f"no {name} in {n:,} trials: the rate given is the 95% upper bound 3/n")
    return OperatingPoint(
        threshold=engine.threshold,
        probe_fingers=len(FINGERS),
        gallery_size=gallery_size,
        genuine_searches=searches,
        misses=misses,
        miss_rate=miss_rate,
        miss_rate_is_upper_bound=miss_bound,
        impostor_trials=trials,
        false_matches=false_matches,
        false_match_rate=fmr,
        false_match_rate_is_upper_bound=fmr_bound,
        impostor_score_max=round(float(scores.max()), 5),
        impostor_score_mean=round(float(scores.mean()), 5),
        impostor_score_sd=round(float(scores.std()), 5),
        genuine_score_median=round(float(np.median(genuine)), 5) if genuine else 0.0,
        impression_model=dict(IMPRESSION_MODEL),
        seed=seed,
        command=command,
        measured_on=dt.datetime.now(dt.UTC).date().isoformat(),
        seconds=round(time.perf_counter() - started, 1),
        note="; ".join(notes),
    )


def write(point: OperatingPoint, path: Path = DATA) -> None:
    """Write an operating point as JSON (atomically: a temporary file, then a rename)."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(point.to_json(), indent=1) + "\n")
    tmp.replace(path)
    _load.cache_clear()
