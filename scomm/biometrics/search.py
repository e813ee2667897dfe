"""1:N search (identification) over a gallery, in named stages.

1. ``probe``: each probe finger prepared once (cylinders and index code).
2. ``screen``: the probe's best fingers (most cylinders) are screened against every gallery
   template of the same finger position (all positions when the probe's is unknown, 0) with
   the index code (:mod:`scomm.biometrics.screen`). The shortlist is of templates, per
   screened finger, or (``shortlist_subjects``, the engine's) of subjects by their screen
   scores summed over the screened fingers.
3. ``match``: the screen's shortlist gets the full MCC comparison.
4. ``fuse``: each shortlisted subject gets a full comparison of every probe finger with its
   template of the same position; the subject's score is the mean over the probe's fingers (a
   finger the subject lacks counts 0), so ten matching fingers outrank one.

Quality: a probe finger whose template's quality was assessed (0-100, extraction always
does) counts by it: the fingers screened are those with most cylinders weighted by quality,
and the fused score is the mean weighted by quality, so a poor impression (few minutiae,
blurred) neither takes a screening slot from a good one nor drags a mate's score down. A
finger never assessed (``quality`` None: generated or ISO templates) weighs 1, so for such
probes the fused score is the plain mean.
5. ``candidates``: the fused subjects, best first, at or above the threshold if one is given.

Each stage is handed to ``observer(stage, data)`` when one is given (as extraction's stages
are), ``data`` being plain JSON-ready values: what a user sees with
``scomm biometrics inspect --gallery DIR --finger POS=FILE``. Without an observer nothing of
it is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scomm.biometrics import matcher, readahead
from scomm.biometrics.matcher import Prepared
from scomm.biometrics.screen import _best_by_row, code_size, index_code
from scomm.biometrics.storage import SHORTLIST_READS, Columns
from scomm.biometrics.template import FINGER_POSITIONS, UNKNOWN_FINGER, Template
from scomm.errors import InputError

if TYPE_CHECKING:
    from scomm.biometrics.gallery import Gallery

PreparedProbe = dict[int, tuple[Prepared, np.ndarray]]
SearchObserver = Callable[[str, dict[str, Any]], None]

SCREEN_FINGERS = 4  # how many of the probe's fingers are screened against the whole gallery
# The screen keeps, per screened finger, SHORTLIST_MIN templates or SHORTLIST_RATE of the
# templates it screened, whichever is more, but never more than SHORTLIST_MAX (the match
# stage's cost). On FVC2002 probes against generated distractors, a one-finger screen ranks
# the mate within its first 2% for 96 probes in 100: a single finger needs a wide
# shortlist; a ten-print search (the engine's) can keep a short one on several fingers.
SHORTLIST_MIN = 64
SHORTLIST_RATE = 0.02
SHORTLIST_MAX = 50_000
FUSE_SUBJECTS = 30  # subjects that go on to the fuse stage (at least max_candidates)
# Below this many full comparisons work stays on the calling thread (see _compare_entries).
PARALLEL_COMPARISONS = 64
# From this many full comparisons on, their templates are read ahead (one call a range costs
# more than the page faults of a few templates already in the page cache).
READ_AHEAD_FROM = 256
# The read-ahead's part: its reads are queued while the part before is compared (a few
# milliseconds of comparisons a part, a few hundred kB of reads).
READ_AHEAD_PART = 2048
OBSERVED_ROWS = 20  # of a shortlist or a stage's scores, the best this many are shown


def shortlist_size(
    screened: int, rate: float = SHORTLIST_RATE, minimum: int = SHORTLIST_MIN
) -> int:
    """How many of ``screened`` templates a one-finger screen keeps for full comparison."""
    return int(min(SHORTLIST_MAX, max(minimum, math.ceil(rate * screened))))


@dataclass(frozen=True)
class Candidate:
    """A subject the search proposes, best first; ``finger_scores`` by probe finger position."""

    subject_id: str
    score: float
    finger_scores: dict[int, float] = field(default_factory=dict)


def prepare_probe(probe: Mapping[int, Template]) -> PreparedProbe:
    """Prepare a probe once (cylinders and index codes of each finger) for several searches."""
    if not probe:
        raise InputError("probe", "no fingers to search")
    out = {}
    for position, template in probe.items():
        if position != UNKNOWN_FINGER and position not in FINGER_POSITIONS:
            raise InputError("probe", f"finger position must be 0-10, got {position}")
        p = matcher.prepare(template)
        out[int(position)] = (p, index_code(p))
    return out


@dataclass(frozen=True)
class SearchSettings:
    """How wide each stage of a search is (:meth:`Gallery.search
    <scomm.biometrics.gallery.Gallery.search>`).

    ``screen_fingers`` of the probe's fingers (those with most cylinders, weighted by
    quality) are screened; each keeps ``shortlist`` templates (or ``shortlist_rate`` of those
    screened if more) for full comparison; ``fuse_subjects`` subjects get all their fingers
    compared, of those whose best screened finger scored at least ``fuse_floor``.

    With ``shortlist_subjects`` the shortlist is one of subjects instead: each subject's
    screen scores are summed over the screened fingers (its best entry for each), and that
    many subjects, the best, get every screened finger fully compared. A mate usually screens
    well on several fingers and a stranger on one at most, so a short shortlist of subjects
    keeps the mate as often as a longer one per finger.
    """

    screen_fingers: int = SCREEN_FINGERS
    shortlist: int = SHORTLIST_MIN
    shortlist_rate: float = SHORTLIST_RATE
    fuse_subjects: int = FUSE_SUBJECTS
    fuse_floor: float = 0.0
    shortlist_subjects: int | None = None

    def __post_init__(self) -> None:
        if self.shortlist_subjects is not None and self.shortlist_subjects < 1:
            raise InputError(
                "shortlist_subjects", f"must be at least 1, got {self.shortlist_subjects}"
            )
        if not 0.0 <= self.shortlist_rate <= 1.0:
            raise InputError("shortlist_rate", f"must be 0-1, got {self.shortlist_rate}")


DEFAULT_SETTINGS = SearchSettings()


def search_prepared(
    gallery: Gallery,
    probe: PreparedProbe,
    max_candidates: int = 10,
    threshold: float | None = None,
    settings: SearchSettings = DEFAULT_SETTINGS,
    observer: SearchObserver | None = None,
) -> list[Candidate]:
    """:meth:`Gallery.search <scomm.biometrics.gallery.Gallery.search>` for a prepared probe."""
    if max_candidates < 1:
        raise InputError("max_candidates", f"must be at least 1, got {max_candidates}")
    screen_fingers = settings.screen_fingers
    shortlist_subjects = settings.shortlist_subjects
    if not len(gallery._ids):
        return []
    # Stages 2 and 3: screen the probe's best fingers, fully compare their shortlists.
    order = sorted(probe, key=lambda pos: -len(probe[pos][0]) * quality_weight(probe[pos][0]))
    screened = order[: max(1, screen_fingers)]
    if observer is not None:
        observer(
            "probe",
            {
                "fingers": {
                    str(pos): {
                        "cylinders": len(p),
                        "index_buckets": int(code_size(c)),
                        "quality": p.quality,
                    }
                    for pos, (p, c) in probe.items()
                },
                "screened": screened,
            },
        )
    scores: dict[tuple[int, int], float] = {}  # (row, probe position) -> best score
    rows_best: dict[int, float] = {}
    if shortlist_subjects is None:
        matched = []
        for position in screened:
            prepared, code = probe[position]
            found = _screen_and_match(
                gallery,
                position,
                prepared,
                code,
                settings.shortlist,
                settings.shortlist_rate,
                observer,
            )
            matched.append((position, found))
    else:
        matched = _screen_subjects_and_match(gallery, probe, screened, shortlist_subjects, observer)
    for position, found in matched:
        if observer is not None:
            observer("match", {"position": position, **_observed_scores(gallery, found)})
        for row, score in found:
            key = (row, position)
            if score > scores.get(key, -1.0):
                scores[key] = score
            rows_best[row] = max(rows_best.get(row, 0.0), score)
    # Stage 4: fuse every probe finger for the best subjects.
    keep = max(settings.fuse_subjects, max_candidates)
    ranked = sorted(rows_best, key=lambda r: -rows_best[r])[:keep]
    finalists = [r for r in ranked if rows_best[r] >= settings.fuse_floor]
    weights = {pos: quality_weight(p) for pos, (p, _c) in probe.items()}
    total_weight = sum(weights.values())
    candidates = []
    for row in finalists:
        finger_scores: dict[int, float] = {}
        for position, (prepared, _code) in probe.items():
            if (row, position) in scores:
                finger_scores[position] = scores[(row, position)]
                continue
            finger_scores[position] = _compare_subject(gallery, row, position, prepared)
        fused = fuse(finger_scores, weights, total_weight)
        subject_id = gallery._ids[row]
        assert subject_id is not None  # only live entries are screened and compared
        candidates.append(Candidate(subject_id, fused, finger_scores))
    candidates.sort(key=lambda c: (-c.score, c.subject_id))
    if observer is not None:
        observer(
            "fuse",
            {
                "subjects_fused": len(candidates),
                "fuse_floor": settings.fuse_floor,
                "fused": [_candidate_json(c) for c in candidates[:OBSERVED_ROWS]],
            },
        )
    if threshold is not None:
        candidates = [c for c in candidates if c.score >= threshold]
    result = candidates[:max_candidates]
    if observer is not None:
        observer(
            "candidates",
            {"threshold": threshold, "candidates": [_candidate_json(c) for c in result]},
        )
    return result


def quality_weight(p: Prepared) -> float:
    """How much a probe finger counts in the fusion: its quality as a share (0-1), 1 where
    it was never assessed."""
    return 1.0 if p.quality is None else p.quality / 100.0


def fuse(scores: Mapping[int, float], weights: Mapping[int, float], total_weight: float) -> float:
    """The subject's score: its finger scores' mean weighted by the probe fingers' quality
    (the plain mean when none was assessed); 0 when no finger carries any weight."""
    if total_weight <= 0.0:
        return 0.0
    return float(sum(weights[pos] * s for pos, s in scores.items()) / total_weight)


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "subject_id": c.subject_id,
        "score": c.score,
        "finger_scores": {str(k): v for k, v in sorted(c.finger_scores.items())},
    }


def _observed_scores(gallery: Gallery, found: list[tuple[int, float]]) -> dict[str, Any]:
    best = sorted(found, key=lambda rs: -rs[1])[:OBSERVED_ROWS]
    return {
        "compared": len(found),
        "best": [[gallery._ids[r], float(s)] for r, s in best],
    }


def _screen_and_match(
    gallery: Gallery,
    position: int,
    prepared: Prepared,
    code: np.ndarray,
    shortlist: int,
    rate: float,
    observer: SearchObserver | None,
) -> list[tuple[int, float]]:
    size = code_size(code)
    if size == 0 or len(prepared) == 0:
        if observer is not None:
            observer("screen", {"position": position, "screened": 0, "kept": 0, "shortlist": []})
        return []
    segments: list[int] = []
    screened: list[np.ndarray] = []  # each segment's screen scores
    total = 0
    for s, segment in enumerate(gallery._segments):
        if segment.entries == 0:
            continue
        out = screen_segment(gallery, s, code, position)
        total += int(np.count_nonzero(out >= 0))
        segments.append(s)
        screened.append(out)
    if not screened:
        return []
    keep = shortlist_size(total, rate, shortlist)
    # One segment's scores (a gallery just opened) are taken as they are: at 10,000,000
    # templates every array as long as the gallery costs 40-80 MB a search.
    all_scores = screened[0] if len(screened) == 1 else np.concatenate(screened)
    if all_scores.shape[0] > keep:
        top = np.argpartition(-all_scores, keep - 1)[:keep]
    else:
        top = np.arange(all_scores.shape[0])
    top = top[all_scores[top] >= 0]
    # Which segment and entry each kept score is: segment k's scores start at first[k].
    first = np.cumsum([0] + [scores.shape[0] for scores in screened])
    k_of = np.searchsorted(first, top, side="right") - 1
    seg_of = np.asarray(segments)[k_of]
    entry_of = top - first[k_of]
    if observer is not None:
        best = np.argsort(-all_scores[top], kind="stable")[:OBSERVED_ROWS]
        observer(
            "screen",
            {
                "position": position,
                "screened": total,
                "kept": int(top.shape[0]),
                "shortlist": [
                    [
                        gallery._ids[
                            int(
                                gallery._segments[int(seg_of[i])].arrays["entry_subject"][
                                    entry_of[i]
                                ]
                            )
                        ],
                        float(all_scores[top[i]]),
                    ]
                    for i in best
                ],
            },
        )
    results: list[tuple[int, float]] = []
    for s in np.unique(seg_of):
        chosen = entry_of[seg_of == s]
        segment = gallery._segments[int(s)]
        mcc = _compare_entries(prepared, segment, chosen)
        rows = segment.view("entry_subject")[chosen]
        results.extend(zip(rows.tolist(), mcc.tolist(), strict=True))
    return results


def _screen_subjects_and_match(
    gallery: Gallery,
    probe: PreparedProbe,
    screened: list[int],
    keep: int,
    observer: SearchObserver | None,
) -> list[tuple[int, list[tuple[int, float]]]]:
    """Stages 2 and 3 with a shortlist of subjects: the ``keep`` subjects whose screen
    scores summed over the ``screened`` fingers are highest, each of those fingers fully
    compared with the subject's template(s) of that position."""
    rows = gallery._ids.rows
    total = np.zeros(rows, dtype=np.float64)
    seen = np.zeros(rows, dtype=np.bool_)
    searched = []
    for position in screened:
        prepared, code = probe[position]
        if code_size(code) == 0 or len(prepared) == 0:
            continue
        searched.append(position)
        best = np.full(rows, -1.0, dtype=np.float64)
        for s, segment in enumerate(gallery._segments):
            if segment.entries:
                out = screen_segment(gallery, s, code, position)
                _best_by_row(out, segment.view("entry_subject"), best)
        seen |= best >= 0
        total += np.maximum(best, 0.0)
    candidates = np.flatnonzero(seen)
    screened_subjects = int(candidates.shape[0])
    if candidates.shape[0] > keep:
        top = np.argpartition(-total[candidates], keep - 1)[:keep]
        candidates = np.sort(candidates[top])
    if observer is not None:
        best_rows = candidates[np.argsort(-total[candidates], kind="stable")][:OBSERVED_ROWS]
        observer(
            "screen",
            {
                "positions": searched,
                "shortlist_of": "subjects (screen scores summed over the screened fingers)",
                "screened": screened_subjects,
                "kept": int(candidates.shape[0]),
                "shortlist": [[gallery._ids[r], float(total[r])] for r in best_rows],
            },
        )
    matched = []
    for position in searched:
        prepared = probe[position][0]
        by_segment: dict[int, list[int]] = {}
        for row in candidates.tolist():
            for s, e in gallery._entries[row]:
                segment = gallery._segments[s]
                if position == UNKNOWN_FINGER or segment.arrays["entry_finger"][e] == position:
                    by_segment.setdefault(s, []).append(e)
        found: list[tuple[int, float]] = []
        for s, entries in by_segment.items():
            segment = gallery._segments[s]
            chosen = np.array(entries, dtype=np.int64)
            mcc = _compare_entries(prepared, segment, chosen)
            found.extend(
                zip(segment.view("entry_subject")[chosen].tolist(), mcc.tolist(), strict=True)
            )
        matched.append((position, found))
    return matched


def screen_segment(gallery: Gallery, s: int, code: np.ndarray, position: int) -> np.ndarray:
    """Screen scores of every entry of the gallery's segment ``s`` (-1: another position or
    removed), from its transposed codes (:class:`~scomm.biometrics.screen.SegmentScreen`)."""
    segment = gallery._segments[s]
    return gallery._screen_of(s).scores(
        segment.view("code_bytes"),
        segment.view("code_starts"),
        segment.view("entry_finger"),
        segment.view("alive"),
        code,
        position,
    )


def verify(gallery: Gallery, probe: PreparedProbe, subject_ids: Sequence[str]) -> np.ndarray:
    """Fused scores of a prepared probe against the given subjects, no screen (1:1).

    The fusion is the search's: the mean over the probe's fingers of each finger's full
    comparison with the subject's template of that position (0 where it has none).
    """
    rows = [gallery._row(s) for s in subject_ids]
    total = np.zeros(len(rows), dtype=np.float64)
    total_weight = sum(quality_weight(p) for p, _c in probe.values())
    for position, (prepared, _code) in probe.items():
        by_segment: dict[int, tuple[list[int], list[int]]] = {}  # entries, their subjects
        for i, row in enumerate(rows):
            for s, e in gallery._entries[row]:
                segment = gallery._segments[s]
                if position == UNKNOWN_FINGER or segment.arrays["entry_finger"][e] == position:
                    entries, which = by_segment.setdefault(s, ([], []))
                    entries.append(e)
                    which.append(i)
        best = np.zeros(len(rows), dtype=np.float64)
        for s, (entries, which) in by_segment.items():
            segment = gallery._segments[s]
            scores = _compare_entries(prepared, segment, np.array(entries, dtype=np.int64))
            np.maximum.at(best, np.array(which, dtype=np.int64), scores)
        total += quality_weight(prepared) * best
    return total / total_weight if total_weight > 0 else np.zeros(len(rows), dtype=np.float64)


def screen_rank(
    gallery: Gallery, probe: PreparedProbe, position: int, subject_id: str
) -> int | None:
    """The subject's place in the screen of the probe's finger ``position``: how many live
    templates the screen scores above the subject's best template (0: first), so the match
    stage compares it when that is fewer than the shortlist; None when the subject has no
    template the screen could keep (none of that position, or an empty code)."""
    _prepared, code = probe[position]
    row = gallery._row(subject_id)
    best = np.float32(-1.0)
    scored = []
    for s, segment in enumerate(gallery._segments):
        if segment.entries == 0:
            continue
        out = screen_segment(gallery, s, code, position)
        scored.append(out)
        for seg, e in gallery._entries[row]:
            if seg == s:
                best = max(best, out[e])
    if best < 0:
        return None
    return sum(int(np.count_nonzero(out > best)) for out in scored)


def _compare_subject(gallery: Gallery, row: int, position: int, prepared: Prepared) -> float:
    best = 0.0
    for s, e in gallery._entries[row]:
        segment = gallery._segments[s]
        if position != UNKNOWN_FINGER and int(segment.arrays["entry_finger"][e]) != position:
            continue
        best = max(best, matcher.compare(prepared, segment.prepared(e)))
    return best


def _compare_entries(prepared: Prepared, segment: Columns, entries: np.ndarray) -> np.ndarray:
    """Full comparisons of a probe finger with some of a segment's templates. A handful (a
    ten-print search's shortlist) are compared on this thread: a parallel region costs more
    than it saves for a few comparisons, and much more when another process holds the other
    cores (every thread of the region must be scheduled before it ends).

    A shortlist's templates are read ahead from the files (:mod:`readahead`), in file order
    and a part at a time: the next part's reads are queued on another thread while this
    part is compared, so that on a gallery larger than the page cache the disk and the
    comparisons work together instead of one page fault at a time."""
    mapped = isinstance(segment.arrays["template_bytes"], np.memmap)
    if entries.shape[0] < READ_AHEAD_FROM or not (readahead.AVAILABLE and mapped):
        return _compare_in_memory(prepared, segment, entries)
    order = np.argsort(entries, kind="stable")
    in_file_order = entries[order]
    a = segment.arrays
    ranges = [(a[name], a[starts]) for name, starts in SHORTLIST_READS]
    parts = np.array_split(in_file_order, -(-entries.shape[0] // READ_AHEAD_PART))
    scores = np.empty(entries.shape[0], dtype=np.float64)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scomm-readahead") as reader:
        pending = reader.submit(readahead.will_need, ranges, parts[0])
        done = 0
        for k, part in enumerate(parts):
            pending.result()
            if k + 1 < len(parts):
                pending = reader.submit(readahead.will_need, ranges, parts[k + 1])
            scores[done : done + part.shape[0]] = _compare_in_memory(prepared, segment, part)
            done += part.shape[0]
    out = np.empty_like(scores)
    out[order] = scores
    return out


def _compare_in_memory(prepared: Prepared, segment: Columns, entries: np.ndarray) -> np.ndarray:
    return matcher.compare_many_encoded(
        prepared,
        segment.view("template_bytes"),
        segment.view("template_starts"),
        segment.view("offsets"),
        entries,
        parallel=entries.shape[0] >= PARALLEL_COMPARISONS,
    )
