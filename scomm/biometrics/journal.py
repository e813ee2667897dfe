"""A gallery's journal: the enrolments and removals since its generation was written.

``journal-<g>.bin`` holds append-only records, each with its CRC-32, on top of generation
``g``; opening the gallery replays them, compacting it folds them into a new generation.

The journal's CRCs find a damaged record, but not a journal cut at a record boundary or
deleted: that leaves a valid journal with fewer enrolments. So, as a database's log has its
commit point, the manifest (checksummed) records the journal's committed length and record
count, and is rewritten after each record reaches the disk. A journal shorter than that, or
missing, is refused on open; bytes past it are a record whose write was interrupted before it
was committed (the caller never saw it succeed) and are ignored, then cut off by the next write.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scomm.biometrics import storage
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER, Prepared
from scomm.biometrics.screen import CODE_WORDS
from scomm.biometrics.storage import JournalState, Manifest
from scomm.errors import GalleryError

_JOURNAL_MAGIC = b"SGJ1"
_RECORD_HEAD = struct.Struct(">4scII")  # magic, kind, payload length, CRC-32 of the payload


def append_record(path: Path, kind: bytes, payload: bytes) -> None:
    """One journal record at the end of ``path``, on disk before this returns; a failed
    write is cut back so that no half-written record is left behind."""
    record = _RECORD_HEAD.pack(_JOURNAL_MAGIC, kind, len(payload), zlib.crc32(payload))
    with open(path, "ab") as handle:
        start = handle.tell()
        try:
            handle.write(record + payload)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.truncate(start)
            raise


def journal_path(directory: Path, generation: int) -> Path:
    return directory / f"journal-{generation}.bin"


def append_committed(directory: Path, kind: bytes, payload: bytes) -> None:
    """One record at the end of the committed journal of ``directory``'s generation, then the
    manifest says it is committed. If either write fails, the journal is cut back to its
    committed length and the manifest is left as it was: the record is not there."""
    manifest = storage.read_manifest(directory)
    path = journal_path(directory, manifest.generation)
    state = manifest.journal
    if state is None:  # a version-2 manifest: the journal as it stands is committed
        state = JournalState(
            bytes=path.stat().st_size if path.exists() else 0,
            records=sum(1 for _ in read_records(path)) if path.exists() else 0,
        )
    record = _RECORD_HEAD.size + len(payload)
    size = path.stat().st_size if path.exists() else 0
    if size < state.bytes:
        raise GalleryError(
            str(path), f"cut short since it was opened: {size} bytes, {state.bytes} committed"
        )
    if size > state.bytes:
        with open(path, "ab") as handle:
            handle.truncate(state.bytes)  # an uncommitted tail of an interrupted write
    append_record(path, kind, payload)
    try:
        committed = JournalState(bytes=state.bytes + record, records=state.records + 1)
        # The arrays stay as they were written (a version-5 gallery's records unpadded), so
        # the version stays theirs; a version-2 manifest gains version 3's journal field.
        version = max(manifest.version, 3)
        storage.write_manifest(
            directory, manifest.model_copy(update={"version": version, "journal": committed})
        )
    except BaseException:
        with open(path, "ab") as handle:
            handle.truncate(state.bytes)
        raise


def committed_records(directory: Path, manifest: Manifest) -> Iterator[tuple[bytes, bytes, int]]:
    """The committed records of the manifest's journal (see :func:`read_records`); a journal
    missing, cut short or holding another number of records than the manifest records is a
    GalleryError naming it."""
    path = journal_path(directory, manifest.generation)
    state = manifest.journal
    if state is None:  # version 2: nothing recorded to check against
        if path.exists():
            yield from read_records(path)
        return
    if state.bytes == 0:
        return
    said = f"the manifest records {state.records} records ({state.bytes} bytes)"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise GalleryError(str(path), f"missing: {said}") from None
    if size < state.bytes:
        raise GalleryError(str(path), f"cut short: {size} bytes, {said}")
    count = 0
    for record in read_records(path, state.bytes):
        count += 1
        yield record
    if count != state.records:
        raise GalleryError(str(path), f"holds {count} records, {said}")


def read_records(path: Path, length: int | None = None) -> Iterator[tuple[bytes, bytes, int]]:
    """``(kind, payload, byte offset)`` of every record (of the first ``length`` bytes), each
    checked (magic, length, CRC)."""
    data = path.read_bytes()
    if length is not None:
        data = data[:length]
    pos = 0
    while pos < len(data):
        if len(data) - pos < _RECORD_HEAD.size:
            raise GalleryError(str(path), f"cut short at byte {pos} (partial record header)")
        magic, kind, length, crc = _RECORD_HEAD.unpack_from(data, pos)
        payload = data[pos + _RECORD_HEAD.size : pos + _RECORD_HEAD.size + length]
        if magic != _JOURNAL_MAGIC:
            raise GalleryError(str(path), f"corrupt record at byte {pos}")
        if len(payload) != length:
            raise GalleryError(str(path), f"cut short at byte {pos} (partial record)")
        if zlib.crc32(payload) != crc:
            raise GalleryError(str(path), f"record at byte {pos} fails its CRC")
        yield kind, payload, pos
        pos += _RECORD_HEAD.size + length


def encode_enrolment(subject_id: str, fingers: list[tuple[int, Prepared, np.ndarray]]) -> bytes:
    sid = subject_id.encode()
    parts = [struct.pack(">H", len(sid)), sid, struct.pack(">B", len(fingers))]
    for position, p, code in fingers:
        parts.append(struct.pack(">BI", position, len(p)))
        for array in (p.x, p.y, p.theta, p.bits, p.masks, code):
            parts.append(
                np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
            )
    payload = b"".join(parts)
    return struct.pack(">I", len(payload)) + payload


def decode_enrolments(
    data: bytes, where: str
) -> list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]]:
    out = []
    pos = 0
    try:
        while pos < len(data):
            (length,) = struct.unpack_from(">I", data, pos)
            pos += 4
            end = pos + length
            (n,) = struct.unpack_from(">H", data, pos)
            subject_id = data[pos + 2 : pos + 2 + n].decode()
            pos += 2 + n
            (count,) = struct.unpack_from(">B", data, pos)
            pos += 1
            fingers = []
            for _ in range(count):
                position, k = struct.unpack_from(">BI", data, pos)
                pos += 5
                arrays = []
                for dtype, shape in (
                    ("<f4", (k,)),
                    ("<f4", (k,)),
                    ("<f4", (k,)),
                    ("<u8", (k, CYLINDER_WORDS)),
                    ("<u8", (k, WORDS_PER_LAYER)),
                    ("<u8", (CODE_WORDS,)),
                ):
                    size = int(np.prod(shape)) * 4 if dtype == "<f4" else int(np.prod(shape)) * 8
                    arrays.append(
                        np.frombuffer(data, dtype, int(np.prod(shape)), pos).reshape(shape)
                    )
                    pos += size
                x, y, theta, bits, masks, code = (
                    np.array(a, dtype=a.dtype.newbyteorder("=")) for a in arrays
                )
                p = Prepared(x, y, theta, bits, masks, np.arange(k, dtype=np.int32))
                fingers.append((position, p, code))
            if pos != end:
                raise ValueError(f"record length {length} does not match its content")
            out.append((subject_id, fingers))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise GalleryError(where, f"corrupt enrolment record: {exc}") from None
    return out
