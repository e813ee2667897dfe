"""Seeded mutations of a gallery's files: every damaged gallery either opens and searches as
the intact one did, or is refused with a GalleryError naming a file of it; nothing else
(no traceback of numpy's or json's, no crash, no gallery silently changed).

A journal cut at a record boundary, emptied or deleted is a valid journal with fewer
enrolments; the manifest records the journal's committed length, so these are refused too:
no mutation opens a gallery with fewer (or other) subjects than it had. Bytes past the
committed length (an interrupted write's) are ignored: such a gallery opens intact and
takes new enrolments. The cases and their classes are in :mod:`tests.fuzz.gallery`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.gallery import build_original, gallery_tally, run_gallery_cases

CASES = 300


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_original(tmp_path_factory.mktemp("fuzz") / "g")


def test_damaged_galleries_open_intact_or_are_refused_by_name(
    original: Path, tmp_path: Path
) -> None:
    outcomes = list(run_gallery_cases(original, tmp_path, CASES, seed=20081027))
    bad = [o for o in outcomes if not o.ok]
    report = "\n".join(f"{o.case} [{o.mutation}] {o.result}: {o.message}" for o in bad[:10])
    assert not bad, f"{len(bad)} of {CASES} damaged galleries went wrong:\n{report}"
    counts = gallery_tally(outcomes)
    assert counts["clean_refusal"] > CASES // 2, counts  # most damage touches what matters
    assert counts["fewer_enrolments"] == 0
    # the journal's own mutations reach both ends: refused, and an uncommitted tail accepted
    journal = {o.result for o in outcomes if "journal" in o.mutation}
    assert journal == {"clean_refusal", "accepted"}, journal
