"""Galleries written by an older scomm, rewritten in this version's format.

Versions 2 and 3 stored each cylinder and index code word for word (``bits.npy``,
``masks.npy``, ``codes.npy``) and the subject ids as one JSON list (``subjects.json``);
version 4 stores them byte-sparse (:mod:`scomm.biometrics.byte_sparse`) and as arrays
(:mod:`scomm.biometrics.subject_ids`), a third of the disk. ``scomm biometrics
gallery-upgrade DIR`` runs :func:`upgrade_gallery`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from scomm.biometrics.journal import journal_path, read_records
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER, Prepared
from scomm.biometrics.screen import CODE_WORDS
from scomm.biometrics.storage import (
    ARRAYS,
    BYTE_SPARSE_FROM,
    MERGE_CHUNK,
    Columns,
    FileEntry,
    JournalState,
    digest,
    open_array,
    read_manifest,
    write_generation,
)
from scomm.errors import GalleryError
from scomm.files import write_bytes_atomic

LEGACY_SUBJECTS_FILE = "subjects.json"
# The arrays of a version-2 or -3 generation that version 4 stores otherwise.
DENSE_ARRAYS = (
    ("codes", np.uint64, (CODE_WORDS,)),
    ("bits", np.uint64, (CYLINDER_WORDS,)),
    ("masks", np.uint64, (WORDS_PER_LAYER,)),
)
_KEPT = ("entry_subject", "entry_finger", "offsets", "alive", "x", "y", "theta")


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
    """Rewrite a version-2 or -3 gallery as version 4 (its cylinders and codes byte-sparse), as a
    new generation with the same subjects, templates and committed journal, switched to by
    the manifest; the old generation is removed after. False if it was version 4 already.
    Interrupted, the gallery is left as it was (the old generation until the manifest
    switches, the new one after)."""
    manifest = read_manifest(directory)
    if manifest.version >= BYTE_SPARSE_FROM:
        return False
    old = manifest.generation
    gen_dir = directory / f"gen-{old}"
    dense = {}
    for name, dtype, _shape in (
        *((n, d, s) for n, d, s, r in ARRAYS if n in _KEPT),
        *DENSE_ARRAYS,
    ):
        dense[name] = open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
    subjects = read_legacy_subjects(
        gen_dir / LEGACY_SUBJECTS_FILE, manifest.files.get(LEGACY_SUBJECTS_FILE), verify
    )
    journal = manifest.journal
    old_journal = journal_path(directory, old)
    if journal is None:  # version 2: the journal as it stands is committed
        size = old_journal.stat().st_size if old_journal.exists() else 0
        records = sum(1 for _ in read_records(old_journal)) if size else 0
        journal = JournalState(bytes=size, records=records)
    new_journal = journal_path(directory, old + 1)
    committed = old_journal.read_bytes()[: journal.bytes] if journal.bytes else b""
    write_bytes_atomic(new_journal, committed, durable=True)
    entries = int(dense["entry_subject"].shape[0])
    chunks = (_rewritten(dense, lo, lo + MERGE_CHUNK) for lo in range(0, entries, MERGE_CHUNK))
    write_generation(directory, old + 1, subjects, chunks, manifest.threshold, journal)
    shutil.rmtree(gen_dir, ignore_errors=True)
    old_journal.unlink(missing_ok=True)
    return True


def _rewritten(dense: dict[str, np.ndarray], lo: int, hi: int) -> Columns:
    """Entries ``lo`` to ``hi`` (at most) of a version-2 or -3 generation, as version 4 holds
    them."""
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
