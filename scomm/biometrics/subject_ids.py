"""A gallery's subject ids by row: the base generation's memory-mapped, those enrolled since
in memory.

Held as a Python list and dict, the ids of 10,000,000 subjects took about 115 bytes a subject
(1.2 GB, with the whole gallery to be held under 20 GB: issue 14). A generation stores them as
four arrays, memory-mapped on open like the templates' (nothing is parsed)::

    subject_ids.npy          the ids' UTF-8 bytes, one after another
    subject_id_starts.npy    where each row's id begins (one more than the rows)
    subject_hashes.npy       XXH3-64 of every id, ascending
    subject_hash_rows.npy    the row of each of those hashes

An id's row is found by a binary search over the hashes (its bytes then compared, so that two
ids of the same hash stay apart), a row's id read from its bytes. A row whose id is empty was
removed before the generation was written. Subjects enrolled since are a list and a dict, as
before; rows removed since, a set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

import numpy as np
import xxhash

ARRAYS = (  # name, dtype: the files of a generation, in this order
    ("subject_ids", np.uint8),
    ("subject_id_starts", np.int64),
    ("subject_hashes", np.uint64),
    ("subject_hash_rows", np.int32),
)


def id_hash(subject_id: bytes) -> int:
    return xxhash.xxh3_64_intdigest(subject_id)


def encode(ids: Sequence[str | None]) -> dict[str, np.ndarray]:
    """The arrays a generation stores for ``ids`` (by row; None: a removed row)."""
    encoded = [(s or "").encode() for s in ids]
    n = len(encoded)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, n), out=starts[1:])
    hashes = np.fromiter(map(id_hash, encoded), np.uint64, n)
    order = np.argsort(hashes, kind="stable")
    return {
        "subject_ids": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "subject_id_starts": starts,
        "subject_hashes": hashes[order],
        "subject_hash_rows": order.astype(np.int32),
    }


class SubjectIds:
    """Subject ids by row (see the module): ``ids[row]``, ``ids.row(subject_id)``,
    ``subject_id in ids``, ``len(ids)`` (the live subjects), ``ids.rows`` (every row)."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        arrays = arrays or encode([])
        self._bytes = arrays["subject_ids"]
        self._starts = arrays["subject_id_starts"]
        self._hashes = arrays["subject_hashes"]
        self._hash_rows = arrays["subject_hash_rows"]
        self._base = int(self._starts.shape[0]) - 1
        removed = np.flatnonzero(np.diff(np.asarray(self._starts)) == 0)
        self._removed: set[int] = set(removed.tolist())
        self._added: list[str | None] = []
        self._added_rows: dict[str, int] = {}
        self._live = self._base - len(self._removed)

    def __len__(self) -> int:
        return self._live

    @property
    def rows(self) -> int:
        return self._base + len(self._added)

    def __getitem__(self, row: int) -> str | None:
        if row >= self._base:
            return self._added[row - self._base]
        if row in self._removed:
            return None
        return bytes(self._bytes[self._starts[row] : self._starts[row + 1]]).decode()

    def row(self, subject_id: str) -> int | None:
        """The row of a live subject, or None."""
        found = self._added_rows.get(subject_id)
        if found is not None or not self._base:
            return found
        encoded = subject_id.encode()
        h = np.uint64(id_hash(encoded))
        i = int(np.searchsorted(self._hashes, h))
        while i < self._base and self._hashes[i] == h:
            row = int(self._hash_rows[i])
            if row not in self._removed and self[row] == subject_id:
                return row
            i += 1
        return None

    def __contains__(self, subject_id: object) -> bool:
        return isinstance(subject_id, str) and self.row(subject_id) is not None

    def live_in_base(self) -> np.ndarray:
        """Which rows of the base generation are live (bool, one a row)."""
        live = np.ones(self._base, dtype=np.bool_)
        live[list(self._removed)] = False
        return live

    def append(self, subject_id: str) -> int:
        """A new row for a subject not enrolled (the caller checks); its number."""
        row = self.rows
        self._added.append(subject_id)
        self._added_rows[subject_id] = row
        self._live += 1
        return row

    def remove(self, subject_id: str) -> int:
        """Remove a live subject; its row (KeyError if it is not there)."""
        row = self.row(subject_id)
        if row is None:
            raise KeyError(subject_id)
        if row >= self._base:
            del self._added_rows[subject_id]
            self._added[row - self._base] = None
        else:
            self._removed.add(row)
        self._live -= 1
        return row

    def live(self) -> Iterator[tuple[str, int]]:
        """``(subject id, row)`` of every live subject, by row."""
        for row in range(self.rows):
            subject_id = self[row]
            if subject_id is not None:
                yield subject_id, row

    def mapped_bytes(self) -> int:
        """Bytes of the ids' memory-mapped arrays (read from the page cache when used)."""
        return sum(
            int(a.nbytes)
            for a in (self._bytes, self._starts, self._hashes, self._hash_rows)
            if isinstance(a, np.memmap)
        )

    def heap_bytes(self) -> int:
        """What the ids hold in memory besides their memory-mapped arrays (estimated: the
        enrolments since the generation, the removed rows)."""
        held = sum(
            int(a.nbytes)
            for a in (self._bytes, self._starts, self._hashes, self._hash_rows)
            if not isinstance(a, np.memmap)
        )
        added = sum(sys.getsizeof(s) for s in self._added if s is not None)
        return (
            held
            + added
            + sys.getsizeof(self._added)
            + sys.getsizeof(self._added_rows)
            + sys.getsizeof(self._removed)
        )
