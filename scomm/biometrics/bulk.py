"""Bulk enrolment: a gallery built from many subjects at once, streamed, resumable.

For initial loads (a criminal master file, a synthetic population of millions): subjects are
prepared (cylinders and index codes) in chunks and each chunk's arrays are appended to the
files of generation 0, so memory stays flat however large the gallery.

Two kinds of source:

- an iterable of ``(subject_id, {position: Template})``: chunks are prepared on ``workers``
  threads of this process (numba releases the GIL for the cylinders);
- a :data:`SubjectSource`, a picklable function ``source(start, stop)`` giving subjects
  ``start`` to ``stop - 1`` of a numbered population: each chunk is made *and* prepared in a
  worker process, so a generated population (numpy-bound, holding the GIL) uses every core.

The build is resumable. While it runs it lives in ``DIR/.building/``: the arrays written so
far, the subject ids, and ``progress.json``, rewritten (atomically, after the arrays are on
disk) when each chunk is written. A build stopped by Ctrl-C, SIGKILL or a full disk is taken
up by calling it again with the same source: the files are cut back to the last recorded
chunk and the source is asked from the subject after it (an iterable is read past the subjects
already written). A source that fails (an id enrolled twice, a bad finger position) is not
resumable: the partial build is removed and the error raised, naming the subject.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scomm.biometrics import byte_sparse, matcher, screen, storage
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER
from scomm.biometrics.screen import CODE_WORDS
from scomm.biometrics.storage import ARRAYS, POINTS_INTO, FileEntry, NpyWriter
from scomm.biometrics.template import FINGER_POSITIONS, Template
from scomm.errors import GalleryError, InputError, TemplateError
from scomm.files import write_bytes_atomic

Subject = tuple[str, Mapping[int, Template]]
SubjectSource = Callable[[int, int], Sequence[Subject]]
STATE_DIR = ".building"
PROGRESS_FILE = "progress.json"
IDS_FILE = "ids.jsonl"


@dataclass
class PreparedChunk:
    """Subjects prepared for the gallery's files: their ids and the arrays of their templates
    (``entry_subject`` by row within the chunk, ``offsets`` from 0 with one more than the
    entries)."""

    ids: list[str]
    arrays: dict[str, np.ndarray]

    @property
    def entries(self) -> int:
        return int(self.arrays["entry_subject"].shape[0])

    @property
    def cylinders(self) -> int:
        return self.rows(storage.CYLINDER)

    def rows(self, kind: str) -> int:
        """How many rows of a kind (:data:`storage.POINTS_INTO`) the chunk holds: where its
        array of starts into them ends."""
        name = next(n for n, points_into in POINTS_INTO.items() if points_into == kind)
        return int(self.arrays[name][-1])


def _checked(subject: Subject) -> list[tuple[int, Template]]:
    """A subject's fingers by position, after checking its id and positions."""
    subject_id, fingers = subject
    if not isinstance(subject_id, str) or not subject_id:
        raise GalleryError(str(subject_id), "subject id empty or not a string")
    if not fingers:
        raise InputError(subject_id, "no fingers to enrol")
    for position in fingers:
        if position not in FINGER_POSITIONS:
            raise InputError(subject_id, f"finger position must be 1-10, got {position}")
    return [(int(position), template) for position, template in sorted(fingers.items())]


@numba.njit(cache=True, nogil=True)
def _cylinders_of_many(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray, starts: np.ndarray, disc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`matcher._build_cylinders` of every template of a chunk (template ``t``'s minutiae
    are rows ``starts[t]`` to ``starts[t + 1] - 1``), in one call: the Python work around the
    kernel in :func:`matcher.prepare`, and the packing of its results into columns, were about
    a fifth of a synthetic build's CPU time."""
    n = x.shape[0]
    bits = np.zeros((n, CYLINDER_WORDS), dtype=np.uint64)
    masks = np.zeros((n, WORDS_PER_LAYER), dtype=np.uint64)
    kept = np.zeros(n, dtype=np.bool_)
    for t in range(starts.shape[0] - 1):
        lo, hi = starts[t], starts[t + 1]
        b, m, k = matcher._build_cylinders(x[lo:hi], y[lo:hi], theta[lo:hi], disc)
        bits[lo:hi] = b
        masks[lo:hi] = m
        kept[lo:hi] = k
    return bits, masks, kept


@numba.njit(cache=True, nogil=True)
def _codes_of_many(bits: np.ndarray, offsets: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The screen's index code of each template of a chunk (cylinders ``offsets[e]`` to
    ``offsets[e + 1] - 1``)."""
    entries = offsets.shape[0] - 1
    codes = np.zeros((entries, CODE_WORDS), dtype=np.uint64)
    for e in range(entries):
        codes[e] = screen._index_code(bits[offsets[e] : offsets[e + 1]], ranks)
    return codes


def prepare_chunk(subjects: Sequence[Subject]) -> PreparedChunk:
    """Subjects checked and prepared for the gallery's files, as one chunk of column arrays:
    the cylinders and index codes :func:`matcher.prepare` and :func:`screen.index_code` give
    each template (the same arrays, bit for bit), made for the whole chunk at once."""
    rows: list[int] = []
    positions: list[int] = []
    columns: dict[str, list[np.ndarray]] = {"x": [], "y": [], "theta": []}
    for row, subject in enumerate(subjects):
        for position, template in _checked(subject):
            m = template.minutiae
            if m.ndim != 1:
                raise TemplateError(subject[0], f"minutiae must be one-dimensional, got {m.shape}")
            rows.append(row)
            positions.append(position)
            columns["x"].append(m["x"])
            columns["y"].append(m["y"])
            columns["theta"].append(m["theta"])
    counts = np.array([len(c) for c in columns["x"]], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def cat(name: str) -> np.ndarray:
        parts = columns[name]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    # y up, as matcher.prepare has it
    x, y, theta = cat("x"), -cat("y"), cat("theta")
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(theta)
    if not finite.all():
        bad = int(np.searchsorted(starts, np.flatnonzero(~finite)[0], side="right")) - 1
        raise TemplateError(
            subjects[rows[bad]][0], "minutiae with non-finite coordinates or angles"
        )
    bits, masks, kept = _cylinders_of_many(x, y, theta, starts, matcher.DISC)
    index = np.flatnonzero(kept)
    # template t's kept cylinders are those kept among its rows: a running count read at starts
    offsets = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])[starts]
    bits = np.ascontiguousarray(bits[index])
    masks = np.ascontiguousarray(masks[index])
    codes = _codes_of_many(bits, offsets, screen._RANKS_BY_CELL)
    code_bytes, code_starts = byte_sparse.encode_blocks(codes, np.arange(len(rows) + 1))
    cylinder_bytes, cylinder_starts = byte_sparse.encode_blocks(
        byte_sparse.cylinder_rows(bits, masks, matcher.DISC_WORDS), offsets
    )
    template_bytes, template_starts = matcher.join_records(
        x[index].astype(np.float32),
        y[index].astype(np.float32),
        theta[index].astype(np.float32),
        offsets,
        cylinder_bytes,
        cylinder_starts,
    )
    arrays: dict[str, np.ndarray] = {
        "entry_subject": np.array(rows, dtype=np.int32),
        "entry_finger": np.array(positions, dtype=np.uint8),
        "offsets": offsets,
        "alive": np.ones(len(rows), dtype=np.bool_),
        "code_starts": code_starts,
        "code_bytes": code_bytes,
        "code_sizes": np.bitwise_count(codes).sum(axis=1).astype(np.float32),
        "template_starts": template_starts,
        "template_bytes": template_bytes,
    }
    return PreparedChunk([s[0] for s in subjects], arrays)


def _joined(chunks: Sequence[PreparedChunk]) -> PreparedChunk:
    """Consecutive chunks as one (their rows renumbered)."""
    if len(chunks) == 1:
        return chunks[0]
    subjects = np.cumsum([0] + [len(c.ids) for c in chunks])
    before = {
        kind: np.cumsum([0] + [c.rows(kind) for c in chunks]) for kind in POINTS_INTO.values()
    }
    arrays = {}
    for name, _dtype, _shape, _rows in ARRAYS:
        parts = [c.arrays[name] for c in chunks]
        if name in POINTS_INTO:
            at = before[POINTS_INTO[name]]
            parts = [parts[0]] + [p[1:] + at[i] for i, p in enumerate(parts) if i > 0]
        elif name == "entry_subject":
            parts = [p + subjects[i] for i, p in enumerate(parts)]
        arrays[name] = np.concatenate(parts)
    return PreparedChunk([i for c in chunks for i in c.ids], arrays)


def _prepare_range(source: SubjectSource, start: int, stop: int) -> PreparedChunk:
    """Subjects ``start`` to ``stop - 1`` of ``source``, made and prepared (a worker's job)."""
    return prepare_chunk(source(start, stop))


class BuildProgress(BaseModel):
    """What of a build under way is on disk (``progress.json``): its format, and how many
    subjects, entries and rows of each kind (``rows``, :data:`storage.ARRAYS`) are written."""

    model_config = ConfigDict(extra="forbid")
    format_version: int
    source: str
    total: int | None
    subjects: int = 0
    entries: int = 0
    rows: dict[str, int] = Field(default_factory=dict)
    ids_bytes: int = 0

    @property
    def cylinders(self) -> int:
        return self.rows.get(storage.CYLINDER, 0)


class _State:
    """The files of a build under way and what of them is written (``progress.json``)."""

    def __init__(self, directory: Path, total: int | None, source_name: str) -> None:
        self.dir = directory / STATE_DIR
        self.progress = BuildProgress(
            format_version=storage.FORMAT_VERSION, source=source_name, total=total
        )
        resumed = (self.dir / PROGRESS_FILE).exists()
        if resumed:
            try:
                found = BuildProgress.model_validate_json((self.dir / PROGRESS_FILE).read_bytes())
            except ValidationError as exc:
                raise GalleryError(str(self.dir / PROGRESS_FILE), f"unreadable: {exc}") from None
            if found.format_version != storage.FORMAT_VERSION:
                raise GalleryError(
                    str(self.dir),
                    f"a build of gallery format {found.format_version} was stopped here, this "
                    f"scomm writes {storage.FORMAT_VERSION}: remove the folder to start again",
                )
            if (found.total, found.source) != (total, source_name):
                raise GalleryError(
                    str(self.dir),
                    f"a build of another source was stopped here ({found.source!r}, "
                    f"{found.total} subjects): remove the folder to start again",
                )
            self.progress = found
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
        self.writers = {}
        written = {storage.ENTRY: self.progress.entries, **self.progress.rows}
        for name, dtype, shape, kind in ARRAYS:
            rows = written[storage.ENTRY] + 1 if kind == storage.STARTS else written.get(kind, 0)
            path = self.dir / f"{name}.npy"
            self.writers[name] = NpyWriter(path, dtype, shape, rows=rows if resumed else None)
            if not resumed and kind == storage.STARTS:
                self.writers[name].append(np.zeros(1, np.int64))
        self.ids = open(self.dir / IDS_FILE, "r+b" if resumed else "w+b")  # noqa: SIM115
        self.ids.truncate(self.progress.ids_bytes)
        self.ids.seek(0)
        self.seen = {json.loads(line) for line in self.ids}
        self.ids.seek(self.progress.ids_bytes)

    @property
    def subjects(self) -> int:
        return self.progress.subjects

    def write(self, chunk: PreparedChunk) -> None:
        for subject_id in chunk.ids:
            if subject_id in self.seen:
                raise GalleryError(subject_id, "enrolled twice in the build")
            self.seen.add(subject_id)
        p = self.progress
        added = storage.append_chunk(self.writers, chunk.arrays, p.rows, p.subjects)
        lines = b"".join(json.dumps(s).encode() + b"\n" for s in chunk.ids)
        self.ids.write(lines)
        for writer in self.writers.values():
            writer.sync()
        self.ids.flush()
        os.fsync(self.ids.fileno())
        p.subjects += len(chunk.ids)
        p.entries += chunk.entries
        for kind in POINTS_INTO.values():
            p.rows[kind] = p.rows.get(kind, 0) + added[kind]
        p.ids_bytes += len(lines)
        write_bytes_atomic(self.dir / PROGRESS_FILE, p.model_dump_json().encode(), durable=True)

    def finish(self) -> dict[str, FileEntry]:
        files = {name: writer.close() for name, writer in self.writers.items()}
        self.ids.seek(0)
        ids = [json.loads(line) for line in self.ids]
        self.ids.close()
        files.update(storage.write_subject_ids(self.dir, ids))
        return files

    def stop(self) -> None:
        for writer in self.writers.values():
            writer.abandon()
        self.ids.close()


def build(
    path: str | os.PathLike[str],
    subjects: Iterable[Subject] | SubjectSource,
    *,
    total: int | None = None,
    workers: int | None = None,
    chunk: int = 2048,
    progress: bool = False,
) -> None:
    """Build generation 0 of a new gallery in ``path`` from ``subjects`` (see the module),
    taking up a build of the same source stopped there. ``total``: how many subjects (a
    :data:`SubjectSource` needs it; for an iterable it only sizes the progress bar);
    ``progress``: show a Rich progress bar."""
    directory = Path(path)
    if (directory / "manifest.json").exists():
        raise GalleryError(str(directory), "a gallery already exists here")
    numbered = callable(subjects)
    if numbered and total is None:
        raise InputError("total", "a numbered subject source needs the number of subjects")
    directory.mkdir(parents=True, exist_ok=True)
    finished = directory / "gen-0"
    if (finished / PROGRESS_FILE).exists() and not (directory / STATE_DIR).exists():
        os.replace(finished, directory / STATE_DIR)  # stopped after the switch, before the manifest
    state = _State(directory, total, _source_name(subjects) if numbered else "iterable")
    workers = workers or os.cpu_count() or 1
    try:
        with _progress_bar(progress, total, state.subjects) as advance:
            if numbered:
                chunks = _numbered_chunks(subjects, state.subjects, total or 0, workers, chunk)  # type: ignore[arg-type]
            else:
                items = islice(iter(subjects), state.subjects, None)  # type: ignore[arg-type]
                chunks = _iterable_chunks(items, workers, chunk)
            for prepared in chunks:
                state.write(prepared)
                advance(len(prepared.ids))
        files = state.finish()
    except (GalleryError, InputError):
        state.stop()
        shutil.rmtree(state.dir, ignore_errors=True)  # a bad source: nothing to resume
        raise
    except BaseException:
        state.stop()  # interrupted: what progress.json records is kept for the next call
        raise
    os.replace(state.dir, finished)
    p = state.progress
    manifest = storage.new_manifest(0, p.subjects, p.entries, p.cylinders, files)
    storage.write_manifest(directory, manifest)
    # Only now: until the manifest is there, these say that gen-0 is a build to finish.
    (finished / IDS_FILE).unlink()
    (finished / PROGRESS_FILE).unlink()


def _source_name(source: object) -> str:
    """What tells one numbered source from another in ``progress.json``: a function's name,
    a ``functools.partial``'s function and arguments, or the source's own ``name``."""
    if isinstance(getattr(source, "name", None), str):
        return str(source.name)  # type: ignore[attr-defined]
    func = getattr(source, "func", None)
    if func is not None:
        args = getattr(source, "args", ())
        keywords = getattr(source, "keywords", {})
        return f"{_source_name(func)}{args!r}{sorted(keywords.items())!r}"
    return f"{getattr(source, '__module__', '')}.{getattr(source, '__qualname__', repr(source))}"


def _iterable_chunks(items: Iterator[Subject], workers: int, chunk: int) -> Iterator[PreparedChunk]:
    # a chunk cut in one part a thread (the kernels release the GIL), joined back in order
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while batch := list(islice(items, chunk)):
            step = -(-len(batch) // workers)
            parts = [batch[i : i + step] for i in range(0, len(batch), step)]
            yield _joined(list(pool.map(prepare_chunk, parts)))


def _numbered_chunks(
    source: SubjectSource, start: int, total: int, workers: int, chunk: int
) -> Iterator[PreparedChunk]:
    """Chunks made in worker processes, handed back in order; a few are in flight at a time
    (memory stays flat)."""
    # spawn, not fork: the parent's numba threads must not be copied mid-flight.
    context = multiprocessing.get_context("spawn")
    pool: Executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: deque[Future[PreparedChunk]] = deque()
    try:
        for first in range(start, total, chunk):
            pending.append(pool.submit(_prepare_range, source, first, min(first + chunk, total)))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


class _progress_bar:
    """A Rich progress bar over subjects written (a no-op without ``shown``)."""

    def __init__(self, shown: bool, total: int | None, done: int) -> None:
        self.bar: Any = None
        if shown:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self.task = self.bar.add_task("enrolling", total=total, completed=done)

    def __enter__(self) -> Callable[[int], None]:
        if self.bar is None:
            return lambda n: None
        self.bar.start()
        return lambda n: self.bar.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
