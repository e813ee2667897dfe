"""Subject ids by row: found by hash, read from their bytes, enrolled and removed on top."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scomm.biometrics import subject_ids
from scomm.biometrics.subject_ids import SubjectIds

_ids = st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=40, unique=True)


@settings(max_examples=100, deadline=None)
@given(_ids, st.data())
def test_every_id_is_found_at_its_row_and_no_other_is(ids: list[str], data: st.DataObject) -> None:
    stored = SubjectIds(subject_ids.encode(ids))
    assert len(stored) == stored.rows == len(ids)
    for row, subject_id in enumerate(ids):
        assert stored.row(subject_id) == row and stored[row] == subject_id
    stranger = data.draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in ids))
    assert stranger not in stored and stored.row(stranger) is None
    assert list(stored.live()) == [(s, r) for r, s in enumerate(ids)]


def test_ids_of_one_hash_are_told_apart_by_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subject_ids, "id_hash", lambda _b: 7)  # every id collides
    stored = SubjectIds(subject_ids.encode(["alpha", "beta", "gamma"]))
    assert [stored.row(s) for s in ("gamma", "alpha", "beta", "delta")] == [2, 0, 1, None]


def test_enrolments_and_removals_on_top_of_the_stored_ids() -> None:
    stored = SubjectIds(subject_ids.encode(["A", None, "C"]))  # B removed before writing
    assert len(stored) == 2 and stored[1] is None and "B" not in stored
    assert stored.live_in_base().tolist() == [True, False, True]
    assert stored.append("D") == 3
    assert stored.remove("A") == 0 and "A" not in stored and stored[0] is None
    assert stored.remove("D") == 3 and "D" not in stored
    with pytest.raises(KeyError):
        stored.remove("A")
    assert stored.append("A") == 4  # enrolled again: a new row
    assert list(stored.live()) == [("C", 2), ("A", 4)] and len(stored) == 2
    assert stored.live_in_base().tolist() == [False, False, True]


def test_the_stored_arrays_sort_the_hashes_and_delimit_the_ids() -> None:
    arrays = subject_ids.encode(["syn-1", "fvc-DB1_B-101", "é"])
    assert np.all(np.diff(arrays["subject_hashes"].astype(np.float64)) >= 0)
    assert arrays["subject_id_starts"].tolist() == [0, 5, 18, 20]
    assert sorted(arrays["subject_hash_rows"].tolist()) == [0, 1, 2]
