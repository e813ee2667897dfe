"""The screen's common buckets: those that the most templates' index codes fill.

Found once, on generated templates of seeds that no gallery uses (galleries number their
distractors from 1), and stored beside the screen (``screen_common_buckets.json``), so that
every gallery, segment and shard leaves out the same buckets and screen scores stay comparable
across them. :mod:`scomm.biometrics.screen` says why and what it was measured to change.
``scomm biometrics common-buckets`` measures them again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from scomm.biometrics import matcher, screen, synthetic
from scomm.biometrics.intrinsics import cttz as _cttz

TEMPLATES = 20_000
FIRST_SEED = 100_000_000  # past any gallery's distractors, 100 million included
SHARE = 0.05  # of all buckets, the most common left out


@numba.njit(cache=True, nogil=True)
def bucket_frequency(codes: np.ndarray) -> np.ndarray:
    """How many of ``codes`` (one index code a row) fill each bucket."""
    counts = np.zeros(codes.shape[1] * 64, dtype=np.int64)
    for e in range(codes.shape[0]):
        for w in range(codes.shape[1]):
            v = codes[e, w]
            while v != 0:
                counts[w * 64 + int(_cttz(v))] += 1
                v &= v - np.uint64(1)
    return counts


def most_common(codes: np.ndarray, share: float = SHARE) -> list[int]:
    """The ``share`` of buckets that the most codes fill, ascending (ties: the lower bucket)."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), got {share}")
    counts = bucket_frequency(np.ascontiguousarray(codes, dtype=np.uint64))
    n = round(share * counts.shape[0])
    order = np.argsort(-counts, kind="stable")
    return sorted(order[:n].tolist())


def generated_codes(
    templates: int = TEMPLATES,
    first_seed: int = FIRST_SEED,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Index codes of generated master templates ``first_seed``, ``first_seed + 1``, ..."""
    codes = np.empty((templates, screen.CODE_WORDS), dtype=np.uint64)
    for i in range(templates):
        prepared = matcher.prepare(synthetic.master_template(first_seed + i))
        codes[i] = screen.index_code(prepared)
        if progress is not None and (i + 1) % 500 == 0:
            progress(i + 1, templates)
    return codes


def measure(
    templates: int = TEMPLATES,
    first_seed: int = FIRST_SEED,
    share: float = SHARE,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """The common buckets of generated templates, as ``screen_common_buckets.json`` holds them."""
    if templates < 1:
        raise ValueError(f"templates must be at least 1, got {templates}")
    common = most_common(generated_codes(templates, first_seed, progress), share)
    return {
        "about": (
            "Index-code buckets the screen leaves out: the most common share of all "
            f"{screen.CODE_WORDS * 64} buckets among generated templates"
        ),
        "index": dict(screen.INDEX_PARAMETERS),
        "templates": templates,
        "first_seed": first_seed,
        "share": share,
        "command": (
            f"scomm biometrics common-buckets --templates {templates} "
            f"--first-seed {first_seed} --share {share}"
        ),
        "measured_on": dt.datetime.now(dt.UTC).date().isoformat(),
        "common": common,
    }


def write(found: dict[str, object], path: Path = screen.COMMON_BUCKETS_FILE) -> None:
    """Write measured common buckets (atomically: a temporary file, then a rename). The
    screen reads them when it is imported: a running process keeps the ones it started with."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(found, indent=None, separators=(",", ":")) + "\n")
    tmp.replace(path)
