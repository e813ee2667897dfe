"""Galleries written by an older scomm, rewritten in this version's format.

Versions 2 and 3 stored each cylinder and index code word for word (``bits.npy``,
``masks.npy``, ``codes.npy``) and the subject ids as one JSON list (``subjects.json``);
version 4 stores them byte-sparse (:mod:`scomm.biometrics.byte_sparse`) and as arrays
(:mod:`scomm.biometrics.subject_ids`), a third of the disk, but a template's minutiae and
cylinders in four files (``x``, ``y``, ``theta``, ``cylinder_bytes``); version 5 stores each
template as one record (``template_bytes``: :func:`scomm.biometrics.matcher.encode_template`);
version 6 lays the records out by page (:mod:`scomm.biometrics.record_pages`), and a version-5
gallery, read as it is, is rewritten so.
``scomm biometrics gallery-upgrade DIR`` runs :func:`upgrade_gallery`, a chunk of templates
at a time (a gallery larger than memory is upgraded in the memory of a chunk).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scomm.biometrics import matcher
from scomm.biometrics.journal import journal_path, read_records
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER, Prepared
from scomm.biometrics.screen import CODE_WORDS
from scomm.biometrics.storage import (
    BYTE_SPARSE_FROM,
    FORMAT_VERSION,
    MERGE_CHUNK,
    RECORDS_FROM,
    Columns,
    FileEntry,
    JournalState,
    Manifest,
    digest,
    open_array,
    read_manifest,
    read_subject_ids,
    write_generation,
)
from scomm.errors import GalleryError
from scomm.files import write_bytes_atomic

LEGACY_SUBJECTS_FILE = "subjects.json"
# The arrays every version from 2 has, with the same meaning.
_ENTRIES = (
    ("entry_subject", np.int32, ()),
    ("entry_finger", np.uint8, ()),
    ("offsets", np.int64, ()),
    ("alive", np.bool_, ()),
)
_MINUTIAE = (("x", np.float32, ()), ("y", np.float32, ()), ("theta", np.float32, ()))
# The arrays of a version-2 or -3 generation that version 4 stores otherwise.
DENSE_ARRAYS = (
    ("codes", np.uint64, (CODE_WORDS,)),
    ("bits", np.uint64, (CYLINDER_WORDS,)),
    ("masks", np.uint64, (WORDS_PER_LAYER,)),
)
# The index codes as versions 4 and 5 keep them (and this version).
_CODES = (
    ("code_starts", np.int64, ()),
    ("code_bytes", np.uint8, ()),
    ("code_sizes", np.float32, ()),
)
# The rest of a version-5 generation: the same arrays as this version's, the records unpadded.
RECORD_ARRAYS = (*_CODES, ("template_starts", np.int64, ()), ("template_bytes", np.uint8, ()))
# The rest of a version-4 generation: its index codes, and a template's cylinders (and its
# minutiae, above) that version 5 joins into one record.
FOUR_FILE_ARRAYS = (
    *_CODES,
    ("cylinder_starts", np.int64, ()),
    ("cylinder_bytes", np.uint8, ()),
)


def read_legacy_subjects(path: Path, expected: FileEntry | None, verify: bool) -> list[str | None]:
    if expected is None:
        raise GalleryError(str(path), "not listed in the manifest")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GalleryError(str(path), f"unreadable: {exc.strerror}") from None
    if len(data) != expected.bytes or (verify and digest(data) != expected.xxh3_64):
        raise GalleryError(str(path), "fails its checksum: changed or damaged since written")
    try:
        subjects = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GalleryError(str(path), f"unreadable: {exc}") from None
    if not isinstance(subjects, list) or not all(s is None or isinstance(s, str) for s in subjects):
        raise GalleryError(str(path), "not a list of subject ids")
    return subjects


def upgrade_gallery(directory: Path, verify: bool = True) -> bool:
    """Rewrite a gallery of version 2 to 5 as this version's (cylinders and codes
    byte-sparse, each template one record, the records laid out by page), as a new generation
    with the same subjects, templates and committed journal, switched to by the manifest; the
    old generation is removed after. False if it was this version already. Interrupted, the
    gallery is left as it was (the old generation until the manifest switches, the new one
    after)."""
    manifest = read_manifest(directory)
    if manifest.version >= FORMAT_VERSION:
        return False
    old = manifest.generation
    gen_dir = directory / f"gen-{old}"
    rewrite: Callable[[dict[str, np.ndarray], int, int], Columns]
    rest: tuple[tuple[str, type, tuple[int, ...]], ...]
    if manifest.version < BYTE_SPARSE_FROM:
        rest, rewrite = (*_MINUTIAE, *DENSE_ARRAYS), _rewritten
    elif manifest.version < RECORDS_FROM:
        rest, rewrite = (*_MINUTIAE, *FOUR_FILE_ARRAYS), _from_four_files
    else:
        rest, rewrite = RECORD_ARRAYS, _as_recorded
    arrays = {
        name: open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
        for name, dtype, _shape in (*_ENTRIES, *rest)
    }
    if manifest.version < BYTE_SPARSE_FROM:
        subjects = read_legacy_subjects(
            gen_dir / LEGACY_SUBJECTS_FILE, manifest.files.get(LEGACY_SUBJECTS_FILE), verify
        )
    else:
        subjects = _stored_subjects(gen_dir, manifest, verify)
    journal = manifest.journal
    old_journal = journal_path(directory, old)
    if journal is None:  # version 2: the journal as it stands is committed
        size = old_journal.stat().st_size if old_journal.exists() else 0
        records = sum(1 for _ in read_records(old_journal)) if size else 0
        journal = JournalState(bytes=size, records=records)
    new_journal = journal_path(directory, old + 1)
    committed = old_journal.read_bytes()[: journal.bytes] if journal.bytes else b""
    write_bytes_atomic(new_journal, committed, durable=True)
    entries = int(arrays["entry_subject"].shape[0])
    chunks = (rewrite(arrays, lo, lo + MERGE_CHUNK) for lo in range(0, entries, MERGE_CHUNK))
    write_generation(directory, old + 1, subjects, chunks, manifest.threshold, journal)
    shutil.rmtree(gen_dir, ignore_errors=True)
    old_journal.unlink(missing_ok=True)
    return True


def _stored_subjects(gen_dir: Path, manifest: Manifest, verify: bool) -> list[str | None]:
    """The subject ids of a version-4 generation by row (None: removed)."""
    ids = read_subject_ids(gen_dir, manifest, verify)
    return [ids[row] for row in range(ids.rows)]


def _run(
    stored: dict[str, np.ndarray], starts: str, data: str, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``lo`` to ``hi``'s starts (from 0) into array ``data`` and their rows of it."""
    at = np.asarray(stored[starts][lo : hi + 1])
    return at - at[0], np.asarray(stored[data][at[0] : at[-1]])


def _entries(stored: dict[str, np.ndarray], lo: int, hi: int) -> dict[str, np.ndarray]:
    """Entries ``lo`` to ``hi``'s arrays that every version from 2 has alike."""
    offsets = np.asarray(stored["offsets"][lo : hi + 1])
    return {
        "entry_subject": np.asarray(stored["entry_subject"][lo:hi]),
        "entry_finger": np.asarray(stored["entry_finger"][lo:hi]),
        "offsets": offsets - offsets[0],
        "alive": np.asarray(stored["alive"][lo:hi]),
    }


def _with_records(
    stored: dict[str, np.ndarray], lo: int, hi: int, starts: np.ndarray, records: np.ndarray
) -> Columns:
    """Entries ``lo`` to ``hi`` of a version-4 or -5 generation (its entries and index codes as
    this version keeps them) with the records given."""
    code_starts, code_bytes = _run(stored, "code_starts", "code_bytes", lo, hi)
    arrays = {
        **_entries(stored, lo, hi),
        "code_starts": code_starts,
        "code_bytes": code_bytes,
        "code_sizes": np.asarray(stored["code_sizes"][lo:hi]),
        "template_starts": starts,
        "template_bytes": records,
    }
    return Columns(arrays, growable=False)


def _as_recorded(five: dict[str, np.ndarray], lo: int, hi: int) -> Columns:
    """Entries ``lo`` to ``hi`` (at most) of a version-5 generation: its arrays as they are
    (the writer lays the records out by page)."""
    hi = min(hi, int(five["entry_subject"].shape[0]))
    return _with_records(five, lo, hi, *_run(five, "template_starts", "template_bytes", lo, hi))


def _from_four_files(four: dict[str, np.ndarray], lo: int, hi: int) -> Columns:
    """Entries ``lo`` to ``hi`` (at most) of a version-4 generation, as this version holds
    them: each template's minutiae and encoded cylinders joined into its record."""
    hi = min(hi, int(four["entry_subject"].shape[0]))
    offsets = np.asarray(four["offsets"][lo : hi + 1])
    c0, c1 = int(offsets[0]), int(offsets[-1])
    cylinder_starts, cylinder_bytes = _run(four, "cylinder_starts", "cylinder_bytes", lo, hi)
    records, record_starts = matcher.join_records(
        np.asarray(four["x"][c0:c1]),
        np.asarray(four["y"][c0:c1]),
        np.asarray(four["theta"][c0:c1]),
        offsets - c0,
        cylinder_bytes,
        cylinder_starts,
    )
    return _with_records(four, lo, hi, record_starts, records)


def _rewritten(dense: dict[str, np.ndarray], lo: int, hi: int) -> Columns:
    """Entries ``lo`` to ``hi`` (at most) of a version-2 or -3 generation, as this version
    holds them."""
    columns = Columns.empty()
    offsets = dense["offsets"]
    for e in range(lo, min(hi, int(dense["entry_subject"].shape[0]))):
        s, t = int(offsets[e]), int(offsets[e + 1])
        prepared = Prepared(
            x=np.asarray(dense["x"][s:t]),
            y=np.asarray(dense["y"][s:t]),
            theta=np.asarray(dense["theta"][s:t]),
            bits=np.asarray(dense["bits"][s:t]),
            masks=np.asarray(dense["masks"][s:t]),
            minutia_index=np.arange(t - s, dtype=np.int32),
        )
        row = int(dense["entry_subject"][e])
        at = columns.append(
            row, int(dense["entry_finger"][e]), prepared, np.asarray(dense["codes"][e])
        )
        columns.arrays["alive"][at] = bool(dense["alive"][e])
    return columns
