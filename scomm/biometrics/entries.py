"""Which templates each subject holds: for every subject row, its ``(segment, entry)`` pairs.

A gallery opened from disk has most of its subjects in the base segment; their entries are
kept as two arrays (the base's live entries ordered by row, and where each row's run
starts), 12 bytes a template, instead of a Python list of tuples a subject (about 200 bytes,
and a Python loop over every entry at each open: 10 s for 10,000,000). Subjects enrolled
since (the journal, the in-memory delta) are kept in a dict beside them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

Entry = tuple[int, int]  # segment, entry within it


class EntryIndex:
    """Row -> its templates' ``(segment, entry)``; rows of removed subjects are absent."""

    def __init__(self) -> None:
        self._order = np.zeros(0, dtype=np.int32)  # base entries, alive, by row
        self._start = np.zeros(1, dtype=np.int64)  # row r's run: _order[_start[r]:_start[r+1]]
        self._base_live = np.zeros(0, dtype=np.bool_)  # base rows not removed
        self._extra: dict[int, list[Entry]] = {}
        self._templates = 0

    @classmethod
    def of_base(cls, entry_subject: np.ndarray, alive: np.ndarray, live: np.ndarray) -> EntryIndex:
        """The index of a base segment (segment 0): ``entry_subject`` and ``alive`` by entry,
        ``live`` by row (a row whose subject id is gone holds nothing)."""
        index = cls()
        rows = np.asarray(entry_subject)
        kept = np.flatnonzero(np.asarray(alive) & live[rows])
        order = kept[np.argsort(rows[kept], kind="stable")].astype(np.int32)
        counts = np.bincount(rows[order], minlength=live.shape[0])
        index._order = order
        index._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        index._base_live = live.copy()
        index._templates = int(order.shape[0])
        return index

    def __getitem__(self, row: int) -> list[Entry]:
        extra = self._extra.get(row)
        if extra is not None:
            return extra
        if row < self._base_live.shape[0] and self._base_live[row]:
            lo, hi = int(self._start[row]), int(self._start[row + 1])
            return [(0, int(e)) for e in self._order[lo:hi]]
        raise KeyError(row)

    def __contains__(self, row: object) -> bool:
        if row in self._extra:
            return True
        return (
            isinstance(row, int)
            and 0 <= row < self._base_live.shape[0]
            and bool(self._base_live[row])
        )

    def add(self, row: int, entries: list[Entry]) -> None:
        """A new row's templates (a row is never reused)."""
        self._extra[row] = entries
        self._templates += len(entries)

    def pop(self, row: int) -> list[Entry]:
        """Remove a row; its templates."""
        entries = self[row]
        if row in self._extra:
            del self._extra[row]
        else:
            self._base_live[row] = False
        self._templates -= len(entries)
        return entries

    @property
    def templates(self) -> int:
        return self._templates

    def rows(self) -> Iterator[int]:
        """Live rows, ascending."""
        yield from np.flatnonzero(self._base_live).tolist()
        yield from sorted(self._extra)

    @property
    def nbytes(self) -> int:
        """Memory of the arrays, and of the dict estimated at 200 bytes a row."""
        arrays = self._order.nbytes + self._start.nbytes + self._base_live.nbytes
        return int(arrays + 200 * len(self._extra))
