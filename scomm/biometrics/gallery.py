"""A gallery of enrolled subjects: enrolment, removal, persistence, and its 1:N search.

A subject is an id and up to ten finger templates keyed by ANSI/NIST finger position (1 = right
thumb ... 10 = left little). Every template is stored *prepared* (its MCC cylinders, see
:mod:`scomm.biometrics.matcher`) plus a small *index code* (:mod:`scomm.biometrics.screen`),
so that a search never rebuilds a gallery template. The search's stages are in
:mod:`scomm.biometrics.search`; the files on disk, their checksums and the journal in
:mod:`scomm.biometrics.storage`; shards searched across machines in
:mod:`scomm.biometrics.shards`.

``compact()`` folds the journal into generation g+1 and switches ``manifest.json`` with an
atomic rename. It writes the new generation a chunk of templates at a time
(:class:`~scomm.biometrics.storage.GenerationWriter`), so a gallery larger than memory can be
compacted, or copied (``save_copy``). An enrolment or removal is one journal record written
at the end of the file; if writing fails the file is cut back to where it was, and the
in-memory gallery is changed only after the record is on disk, so a failed operation leaves
the gallery as it was. A file cut short, damaged, or inconsistent with the manifest raises
:class:`~scomm.errors.GalleryError` naming it.

Work is spread over all cores by numba (``prange`` with the GIL released).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from scomm.biometrics import bulk, journal, matcher, readahead, storage
from scomm.biometrics import search as _search
from scomm.biometrics.entries import EntryIndex
from scomm.biometrics.matcher import Prepared
from scomm.biometrics.screen import DEFAULT_LAYOUT, ScreenLayout, SegmentScreen, index_code
from scomm.biometrics.search import (
    DEFAULT_SETTINGS,
    Candidate,
    PreparedProbe,
    SearchObserver,
    SearchSettings,
    prepare_probe,
    shortlist_size,
)
from scomm.biometrics.storage import Columns
from scomm.biometrics.subject_ids import SubjectIds
from scomm.biometrics.template import FINGER_POSITIONS, UNKNOWN_FINGER, Template
from scomm.errors import GalleryError, InputError

__all__ = [
    "FINGER_POSITIONS",
    "UNKNOWN_FINGER",
    "Candidate",
    "Gallery",
    "PreparedProbe",
    "ScreenLayout",
    "SearchSettings",
    "prepare_probe",
    "shortlist_size",
]


class Gallery:
    """Enrolled subjects, their prepared finger templates, and 1:N search over them."""

    def __init__(self, path: Path | None, screen_layout: ScreenLayout = DEFAULT_LAYOUT) -> None:
        self.path = path
        self.screen_layout = screen_layout  # what of the index codes the screen holds
        self.generation = 0
        self.threshold: float | None = None
        self._ids = SubjectIds()  # subject ids by row
        self._entries = EntryIndex()  # row -> its (segment, entry) pairs
        self._segments: list[Columns] = [Columns.empty()]  # [base?, delta]
        self._screens: dict[int, SegmentScreen] = {}  # by segment, made by the first search

    # --- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Gallery:
        """A new, empty gallery in directory ``path`` (which must not hold a gallery yet)."""
        directory = Path(path)
        if (directory / "manifest.json").exists():
            raise GalleryError(str(directory), "a gallery already exists here")
        directory.mkdir(parents=True, exist_ok=True)
        gallery = cls(directory)
        storage.write_generation(directory, 0, [], [Columns.empty()], gallery.threshold)
        return gallery

    @classmethod
    def in_memory(cls, screen_layout: ScreenLayout = DEFAULT_LAYOUT) -> Gallery:
        """A gallery that lives only in memory (tests, synthetic runs)."""
        return cls(None, screen_layout)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        verify: bool = True,
        screen_layout: ScreenLayout = DEFAULT_LAYOUT,
    ) -> Gallery:
        """Open a gallery: every file is checked against the manifest (header, size and, with
        ``verify``, checksum), the arrays are memory-mapped, then the journal is replayed.

        ``verify=False`` skips only the checksums (a reopen then reads no array in full).
        ``screen_layout``: how much of the index codes the screen holds in memory
        (:class:`~scomm.biometrics.screen.ScreenLayout`).
        """
        directory = Path(path)
        manifest = storage.read_manifest(directory)
        gallery = cls(directory, screen_layout)
        gallery.generation = manifest.generation
        gallery.threshold = manifest.threshold
        base, subjects = storage.read_generation(directory, manifest, verify)
        gallery._segments = [base, Columns.empty()]
        gallery._ids = subjects
        gallery._entries = EntryIndex.of_base(
            base.arrays["entry_subject"], base.arrays["alive"], subjects.live_in_base()
        )
        gallery._replay_journal(manifest)
        return gallery

    @classmethod
    def build(
        cls,
        path: str | os.PathLike[str],
        subjects: Iterable[tuple[str, Mapping[int, Template]]] | bulk.SubjectSource,
        *,
        total: int | None = None,
        workers: int | None = None,
        chunk: int = 2048,
        progress: bool = False,
        screen_layout: ScreenLayout = DEFAULT_LAYOUT,
    ) -> Gallery:
        """Create a gallery from many subjects at once, streamed to disk chunk by chunk and
        resumable (:func:`scomm.biometrics.bulk.build`: an iterable, or a numbered source
        made in worker processes); the gallery, opened."""
        bulk.build(path, subjects, total=total, workers=workers, chunk=chunk, progress=progress)
        return cls.open(path, screen_layout=screen_layout)

    # --- enrolment and removal ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._ids

    @property
    def template_count(self) -> int:
        return self._entries.templates

    def subjects(self) -> list[str]:
        return [subject_id for subject_id, _row in self._ids.live()]

    def fingers_of(self, subject_id: str) -> list[int]:
        """Finger positions enrolled for a subject."""
        row = self._row(subject_id)
        return [int(self._segments[s].arrays["entry_finger"][e]) for s, e in self._entries[row]]

    def enroll(self, subject_id: str, fingers: Mapping[int, Template]) -> None:
        """Enrol a new subject with up to ten fingers keyed by position 1-10."""
        self.enroll_many([(subject_id, fingers)])

    def enroll_many(self, subjects: Iterable[tuple[str, Mapping[int, Template]]]) -> None:
        """Enrol several subjects with one journal write (all of them, or none on error)."""
        batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]] = []
        seen: set[str] = set()
        for subject_id, fingers in subjects:
            self._check_new(subject_id, fingers, seen)
            prepared = []
            for position, template in sorted(fingers.items()):
                p = matcher.prepare(template)
                prepared.append((int(position), p, index_code(p)))
            batch.append((subject_id, prepared))
        self._enroll_batch(batch)

    def enroll_prepared(
        self, subjects: Iterable[tuple[str, Mapping[int, tuple[Prepared, np.ndarray]]]]
    ) -> None:
        """:meth:`enroll_many` for fingers already prepared by :func:`prepare_probe` (cylinders
        and index code), so that prints enrolled in several galleries are prepared once."""
        batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]] = []
        seen: set[str] = set()
        for subject_id, fingers in subjects:
            self._check_new(subject_id, fingers, seen)
            batch.append((subject_id, [(int(f), p, c) for f, (p, c) in sorted(fingers.items())]))
        self._enroll_batch(batch)

    def _check_new(self, subject_id: object, fingers: Mapping[int, object], seen: set[str]) -> None:
        if not isinstance(subject_id, str) or not subject_id or len(subject_id) > 256:
            raise InputError("subject_id", f"must be a non-empty string, got {subject_id!r}")
        if subject_id in self._ids or subject_id in seen:
            raise GalleryError(subject_id, "already enrolled (remove it first)")
        seen.add(subject_id)
        if not fingers:
            raise InputError(subject_id, "no fingers to enrol")
        for position in fingers:
            if position not in FINGER_POSITIONS:
                raise InputError(subject_id, f"finger position must be 1-10, got {position}")

    def _enroll_batch(
        self, batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]]
    ) -> None:
        if not batch:
            return
        payload = b"".join(journal.encode_enrolment(s, fingers) for s, fingers in batch)
        self._append_journal(b"E", payload)
        for subject_id, prepared in batch:
            self._apply_enrolment(subject_id, prepared)

    def remove(self, subject_id: str) -> None:
        """Remove a subject and all its fingers."""
        self._row(subject_id)
        self._append_journal(b"R", subject_id.encode())
        self._apply_removal(subject_id)

    def _row(self, subject_id: str) -> int:
        row = self._ids.row(subject_id)
        if row is None:
            raise GalleryError(subject_id, "no such subject in the gallery")
        return row

    def _apply_enrolment(
        self, subject_id: str, prepared: list[tuple[int, Prepared, np.ndarray]]
    ) -> None:
        row = self._ids.append(subject_id)
        delta = len(self._segments) - 1
        self._entries.add(
            row,
            [
                (delta, self._segments[delta].append(row, position, p, code))
                for position, p, code in prepared
            ],
        )

    def _apply_removal(self, subject_id: str) -> None:
        row = self._ids.remove(subject_id)
        for s, e in self._entries.pop(row):
            self._segments[s].arrays["alive"][e] = False

    # --- the journal ---------------------------------------------------------------------------

    def _append_journal(self, kind: bytes, payload: bytes) -> None:
        if self.path is not None:
            journal.append_committed(self.path, kind, payload)

    def _replay_journal(self, manifest: storage.Manifest) -> None:
        assert self.path is not None
        path = journal.journal_path(self.path, self.generation)
        for kind, payload, pos in journal.committed_records(self.path, manifest):
            if kind == b"E":
                for subject_id, prepared in journal.decode_enrolments(payload, str(path)):
                    self._check_replayed(path, pos, subject_id, prepared)
                    self._apply_enrolment(subject_id, prepared)
            elif kind == b"R":
                try:
                    subject_id = payload.decode()
                except UnicodeDecodeError:
                    raise GalleryError(str(path), f"record at byte {pos}: bad subject id") from None
                if subject_id not in self._ids:
                    raise GalleryError(str(path), f"removes {subject_id!r}, never enrolled")
                self._apply_removal(subject_id)
            else:
                raise GalleryError(str(path), f"unknown record kind {kind!r} at byte {pos}")

    def _check_replayed(
        self, path: Path, pos: int, subject_id: str, fingers: list[tuple[int, Prepared, np.ndarray]]
    ) -> None:
        if not subject_id or subject_id in self._ids:
            raise GalleryError(
                str(path), f"record at byte {pos} enrols {subject_id!r}, enrolled already"
            )
        if any(position not in FINGER_POSITIONS for position, _p, _c in fingers):
            raise GalleryError(str(path), f"record at byte {pos}: finger position out of 1-10")

    # --- generations -----------------------------------------------------------------------------

    def _merged(self, rows: list[str]) -> Iterator[Columns]:
        """The live subjects' templates in chunks of about ``storage.MERGE_CHUNK``, their
        subjects renumbered in order; each subject's id is added to ``rows`` (by its new row)."""
        chunk = Columns.empty()
        read = [seg.arrays[name] for seg in self._segments for name in storage.READ_AT_RANDOM]
        with readahead.in_order(read):  # every template, in about the order of the files
            for subject_id, row in self._ids.live():
                new_row = len(rows)
                rows.append(subject_id)
                for s, e in self._entries[row]:
                    segment = self._segments[s]
                    chunk.append(
                        new_row,
                        int(segment.arrays["entry_finger"][e]),
                        segment.prepared(e),
                        segment.code(e),
                    )
                if chunk.entries >= storage.MERGE_CHUNK:
                    yield chunk
                    chunk = Columns.empty()
        yield chunk

    def _write_merged(self, directory: Path, generation: int) -> None:
        """The live subjects as generation ``generation`` of the gallery in ``directory``
        (manifest switched to it), a chunk in memory at a time."""
        rows: list[str] = []  # filled by _merged as it goes
        storage.write_generation(directory, generation, rows, self._merged(rows), self.threshold)

    def compact(self) -> None:
        """Fold the journal and removals into a new generation of arrays (atomic switch)."""
        if self.path is None:
            return
        old = self.generation
        self._write_merged(self.path, old + 1)
        shutil.rmtree(self.path / f"gen-{old}", ignore_errors=True)
        (self.path / f"journal-{old}.bin").unlink(missing_ok=True)
        # just written and checksummed
        reopened = Gallery.open(self.path, verify=False, screen_layout=self.screen_layout)
        self.__dict__.update(reopened.__dict__)

    def save_copy(self, path: str | os.PathLike[str]) -> Gallery:
        """Write the live subjects (of an in-memory or on-disk gallery) as a new gallery in
        directory ``path`` (which must not hold a gallery yet), compacted, with this gallery's
        threshold; the copy, opened. Nothing is left in ``path`` on error."""
        directory = Path(path)
        if (directory / "manifest.json").exists():
            raise GalleryError(str(directory), "a gallery already exists here")
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        try:
            self._write_merged(directory, 0)
        except BaseException:
            shutil.rmtree(directory / "gen-0", ignore_errors=True)
            if created:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        return Gallery.open(directory, verify=False)

    def set_threshold(self, threshold: float | None) -> None:
        """Store the decision threshold (e.g. from
        :func:`~scomm.biometrics.evaluation.threshold_for_fpir`)."""
        self.threshold = None if threshold is None else float(threshold)
        if self.path is not None:
            manifest = storage.read_manifest(self.path)
            storage.write_manifest(
                self.path, manifest.model_copy(update={"threshold": self.threshold})
            )

    def memory_report(self) -> dict[str, float]:
        """Bytes per live template: held in memory (heap arrays, the screens' transposed codes,
        the subject bookkeeping) and memory-mapped from the files (read from the page cache
        when a search touches them), by what they serve."""
        templates = max(self.template_count, 1)
        heap = 0
        mapped = {
            "screen_codes": 0,
            "full_templates": 0,
            "entries": 0,
            "subject_ids": self._ids.mapped_bytes(),
        }
        for segment in self._segments:
            for name, array in segment.arrays.items():
                size = int(array.nbytes)
                if not isinstance(array, np.memmap):
                    heap += size
                elif name in ("code_bytes", "code_starts", "code_sizes"):
                    mapped["screen_codes"] += size
                elif name in ("template_bytes", "template_starts", "offsets"):
                    mapped["full_templates"] += size
                else:
                    mapped["entries"] += size
        transposed = sum(
            screen.index.nbytes for screen in self._screens.values() if screen.index is not None
        )
        # The subject ids' arrays are memory-mapped; what they add to the heap is the
        # enrolments since the generation was written.
        bookkeeping = self._entries.nbytes + self._ids.heap_bytes()
        resident = heap + transposed + bookkeeping
        return {
            "in_memory": round(resident / templates, 1),
            "in_memory_screen_index": round(transposed / templates, 1),
            "in_memory_heap_arrays": round(heap / templates, 1),
            "in_memory_subject_bookkeeping": round(bookkeeping / templates, 1),
            **{f"mapped_{k}": round(v / templates, 1) for k, v in mapped.items()},
        }

    # --- search ----------------------------------------------------------------------------------

    def search(
        self,
        probe: Mapping[int, Template],
        max_candidates: int = 10,
        threshold: float | None = None,
        settings: SearchSettings = DEFAULT_SETTINGS,
        observer: SearchObserver | None = None,
    ) -> list[Candidate]:
        """Ranked candidates for a probe of one to ten fingers (position 0: unknown position).

        Only candidates scoring at least ``threshold`` are returned when it is given; how
        wide each stage is, ``settings`` (:class:`~scomm.biometrics.search.SearchSettings`).
        ``observer(stage, data)`` receives each stage of the search
        (:mod:`scomm.biometrics.search`).
        """
        return self.search_prepared(
            prepare_probe(probe), max_candidates, threshold, settings, observer
        )

    def search_prepared(
        self,
        probe: PreparedProbe,
        max_candidates: int = 10,
        threshold: float | None = None,
        settings: SearchSettings = DEFAULT_SETTINGS,
        observer: SearchObserver | None = None,
    ) -> list[Candidate]:
        """:meth:`search` for a probe already prepared with :func:`prepare_probe`."""
        return _search.search_prepared(self, probe, max_candidates, threshold, settings, observer)

    def verify(self, probe: PreparedProbe, subject_ids: Sequence[str]) -> np.ndarray:
        """Fused scores of a prepared probe against the given subjects, no screen (1:1)."""
        return _search.verify(self, probe, subject_ids)

    def screen_rank(self, probe: PreparedProbe, position: int, subject_id: str) -> int | None:
        """How many templates the screen of the probe's finger ``position`` ranks above the
        subject's (:func:`~scomm.biometrics.search.screen_rank`): why a search kept it or not."""
        return _search.screen_rank(self, probe, position, subject_id)

    def _screen_of(self, segment: int) -> SegmentScreen:
        screen = self._screens.get(segment)
        if screen is None:
            screen = self._screens[segment] = SegmentScreen(self.screen_layout)
        return screen
