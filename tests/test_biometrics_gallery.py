"""The gallery: enrol, search, persist, reopen, remove, damage; the FPIR threshold; the engine."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from _biometric_templates import impression, random_template

from scomm.biometrics import storage
from scomm.biometrics.engine import BiometricEngine
from scomm.biometrics.evaluation import threshold_for_fpir
from scomm.biometrics.gallery import Gallery, SearchSettings
from scomm.biometrics.journal import append_record, read_records
from scomm.biometrics.shards import search_shards
from scomm.biometrics.template import Template
from scomm.errors import GalleryError, InputError

SUBJECTS = 24


def finger(subject: int, position: int) -> Template:
    return random_template(1000 * subject + position)


def enrol_all(gallery: Gallery, subjects: range = range(SUBJECTS)) -> None:
    for s in subjects:
        gallery.enroll(f"S{s:03d}", {1: finger(s, 1), 2: finger(s, 2)})


@pytest.fixture()
def gallery_dir(tmp_path: Path) -> Path:
    g = Gallery.create(tmp_path / "g")
    enrol_all(g)
    return tmp_path / "g"


def test_search_ranks_the_mate_first_by_finger_and_fused(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    assert len(g) == SUBJECTS and g.template_count == 2 * SUBJECTS
    for s in (0, 7, 23):
        one = g.search({2: impression(finger(s, 2), s)}, max_candidates=5)
        assert one[0].subject_id == f"S{s:03d}"
        assert one[0].score > one[1].score
        both = g.search({1: impression(finger(s, 1), s), 2: impression(finger(s, 2), s)}, 5)
        assert both[0].subject_id == f"S{s:03d}"
        assert set(both[0].finger_scores) == {1, 2}
        assert both[0].score == pytest.approx(np.mean(list(both[0].finger_scores.values())))


def test_unknown_probe_position_searches_every_finger(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    assert g.search({0: impression(finger(5, 2), 1)}, 3)[0].subject_id == "S005"
    # Searched as the wrong known position, the mate's finger is never compared.
    wrong = g.search({1: impression(finger(5, 2), 1)}, 3)
    assert all(c.score < 0.1 for c in wrong)


def test_gallery_persists_reopens_and_compacts(gallery_dir: Path) -> None:
    probe = {1: impression(finger(3, 1), 9)}
    before = Gallery.open(gallery_dir).search(probe, 4)
    g = Gallery.open(gallery_dir)
    g.compact()
    assert g.generation == 1
    assert not (gallery_dir / "journal-0.bin").exists()
    reopened = Gallery.open(gallery_dir)
    after = reopened.search(probe, 4)
    assert [c.subject_id for c in after] == [c.subject_id for c in before]
    assert [c.score for c in after] == pytest.approx([c.score for c in before])
    # Enrolments after a compaction go to the new journal and survive a reopen.
    reopened.enroll("NEW", {1: finger(99, 1)})
    assert (
        Gallery.open(gallery_dir).search({1: impression(finger(99, 1), 2)}, 1)[0].subject_id
        == "NEW"
    )


def _array_digests(directory: Path) -> dict[str, str]:
    files = storage.read_manifest(directory).files
    return {name: entry.xxh3_64 for name, entry in files.items()}


def test_compaction_and_copy_hold_a_chunk_at_a_time_and_write_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_chunks: list[int]
) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for directory in (whole, parts):
        g = Gallery.create(directory)
        enrol_all(g)
        g.remove("S005")  # a removal and a late enrolment folded in too
        g.enroll("LATE", {2: finger(77, 2)})
    Gallery.open(whole).compact()
    monkeypatch.setattr(storage, "MERGE_CHUNK", 5)
    written_chunks.clear()  # the writes that made the two galleries
    compacted = Gallery.open(parts)
    compacted.compact()
    templates = 2 * (SUBJECTS - 1) + 1
    # Chunks of 5 templates, or 6 where a subject's two fingers cross the line; never more.
    assert (
        sum(written_chunks) == templates
        and max(written_chunks) <= 6
        and len(written_chunks) >= templates // 6
    )
    assert _array_digests(parts) == _array_digests(whole)  # the same files, byte for byte
    probe = {2: impression(finger(8, 2), 4)}
    assert compacted.search(probe, 3) == Gallery.open(whole).search(probe, 3)
    written_chunks.clear()
    copy = compacted.save_copy(tmp_path / "copy")
    assert sum(written_chunks) == templates and max(written_chunks) <= 6
    assert copy.search(probe, 3) == compacted.search(probe, 3)


def test_a_compaction_that_fails_part_way_leaves_the_gallery_as_it_was(
    gallery_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _array_digests(gallery_dir)
    monkeypatch.setattr(storage, "MERGE_CHUNK", 4)
    written: list[int] = []
    append = storage.GenerationWriter.append

    def fails_third(self: storage.GenerationWriter, chunk: storage.Columns) -> None:
        written.append(chunk.entries)
        if len(written) == 3:
            raise OSError("disk full")
        append(self, chunk)

    monkeypatch.setattr(storage.GenerationWriter, "append", fails_third)
    with pytest.raises(OSError, match="disk full"):
        Gallery.open(gallery_dir).compact()
    assert _array_digests(gallery_dir) == before
    assert sorted(p.name for p in gallery_dir.iterdir()) == [
        "gen-0",
        "journal-0.bin",
        "manifest.json",
    ]
    assert len(Gallery.open(gallery_dir)) == SUBJECTS


def test_remove_takes_a_subject_out_for_good(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    probe = {2: impression(finger(4, 2), 3)}
    assert g.search(probe, 1)[0].subject_id == "S004"
    g.remove("S004")
    assert "S004" not in g
    assert all(c.subject_id != "S004" for c in g.search(probe, SUBJECTS))
    reopened = Gallery.open(gallery_dir)
    assert "S004" not in reopened and len(reopened) == SUBJECTS - 1
    reopened.compact()
    assert all(c.subject_id != "S004" for c in Gallery.open(gallery_dir).search(probe, SUBJECTS))
    with pytest.raises(GalleryError):
        reopened.remove("S004")


def test_failed_enrolment_leaves_the_gallery_unchanged(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    journal = gallery_dir / "journal-0.bin"
    size = journal.stat().st_size
    with pytest.raises(InputError):
        g.enroll("BAD", {1: finger(50, 1), 11: finger(50, 2)})  # no finger position 11
    with pytest.raises(GalleryError):
        g.enroll("S001", {1: finger(50, 1)})  # already enrolled
    with pytest.raises(InputError):
        g.enroll_many([("OK", {1: finger(51, 1)}), ("", {1: finger(52, 1)})])
    assert journal.stat().st_size == size
    assert len(g) == SUBJECTS and "BAD" not in g and "OK" not in g
    assert len(Gallery.open(gallery_dir)) == SUBJECTS


def test_truncated_array_file_is_a_gallery_error_naming_it(gallery_dir: Path) -> None:
    Gallery.open(gallery_dir).compact()
    bits = gallery_dir / "gen-1" / "template_bytes.npy"
    data = bits.read_bytes()
    bits.write_bytes(data[: len(data) // 2])
    with pytest.raises(GalleryError, match="template_bytes.npy"):
        Gallery.open(gallery_dir)
    assert bits.stat().st_size == len(data) // 2  # the damaged file is left for inspection


def test_truncated_journal_is_a_gallery_error_naming_it(gallery_dir: Path) -> None:
    journal = gallery_dir / "journal-0.bin"
    data = journal.read_bytes()
    journal.write_bytes(data[:-7])
    with pytest.raises(GalleryError, match="journal-0.bin"):
        Gallery.open(gallery_dir)
    journal.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    with pytest.raises(GalleryError, match="journal-0.bin"):
        Gallery.open(gallery_dir)


def test_journal_cut_at_a_record_or_deleted_is_refused_by_the_manifest(
    gallery_dir: Path,
) -> None:
    journal = gallery_dir / "journal-0.bin"
    data = journal.read_bytes()
    last = [pos for _k, _p, pos in read_records(journal)][-1]
    journal.write_bytes(data[:last])  # a valid journal, one enrolment short
    with pytest.raises(GalleryError, match="cut short.*24 records"):
        Gallery.open(gallery_dir)
    journal.unlink()
    with pytest.raises(GalleryError, match="journal-0.bin: missing"):
        Gallery.open(gallery_dir)


def test_an_uncommitted_journal_tail_is_ignored_then_cut_by_the_next_write(
    gallery_dir: Path,
) -> None:
    # A crash after the record reached the disk but before the manifest said so.
    manifest = storage.read_manifest(gallery_dir)
    append_record(gallery_dir / "journal-0.bin", b"R", b"S001")
    assert storage.read_manifest(gallery_dir) == manifest
    g = Gallery.open(gallery_dir)
    assert "S001" in g and len(g) == SUBJECTS
    g.remove("S002")
    reopened = Gallery.open(gallery_dir)
    assert "S001" in reopened and "S002" not in reopened and len(reopened) == SUBJECTS - 1


def test_a_failed_manifest_write_takes_the_journal_record_back(
    gallery_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = gallery_dir / "journal-0.bin"
    size = journal.stat().st_size

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "write_manifest", disk_full)
    g = Gallery.open(gallery_dir)
    with pytest.raises(OSError):
        g.remove("S001")
    assert journal.stat().st_size == size and "S001" in g
    monkeypatch.undo()
    assert "S001" in Gallery.open(gallery_dir)


def test_missing_or_foreign_gallery_is_a_gallery_error(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="manifest"):
        Gallery.open(tmp_path)
    Gallery.create(tmp_path / "g")
    with pytest.raises(GalleryError):
        Gallery.create(tmp_path / "g")


def test_threshold_for_fpir_on_a_known_distribution() -> None:
    rng = np.random.default_rng(7)
    scores = rng.permutation(np.arange(1000) / 1000.0)  # 0.000 ... 0.999, shuffled
    for target in (0.001, 0.01, 0.05, 0.2):
        t = threshold_for_fpir(target, scores)
        fpir = float(np.mean(scores >= t))
        assert fpir <= target
        # The lowest such threshold: one score lower would let one more impostor through.
        assert float(np.mean(scores >= t - 0.001)) > target
    assert np.mean(scores >= threshold_for_fpir(0.0, scores)) == 0.0
    with pytest.raises(InputError):
        threshold_for_fpir(1.5, scores)


def test_threshold_is_stored_with_the_gallery(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    g.set_threshold(0.123)
    assert Gallery.open(gallery_dir).threshold == pytest.approx(0.123)
    assert BiometricEngine(Gallery.open(gallery_dir)).threshold == pytest.approx(0.123)


def test_engine_identifies_enrolled_and_rejects_unenrolled() -> None:
    engine = BiometricEngine.in_memory()
    for s in range(40):
        engine.enroll(f"P{s}", {p: finger(s, p) for p in (1, 2, 6, 7)})
    probe = {p: impression(finger(12, p), 40 + p) for p in (1, 2, 6, 7)}
    hits = engine.identify(probe)
    assert hits and hits[0].subject_id == "P12" and hits[0].score >= engine.threshold
    stranger = {p: impression(finger(77, p), p) for p in (1, 2, 6, 7)}
    assert engine.identify(stranger) == []
    engine.remove("P12")
    assert all(c.subject_id != "P12" for c in engine.identify(probe))


def test_engine_calibrates_its_threshold_from_impostor_searches() -> None:
    engine = BiometricEngine.in_memory()
    for s in range(20):
        engine.enroll(f"P{s}", {1: finger(s, 1)})
    impostors = [
        engine.gallery.search({1: random_template(5000 + k)}, 1)[0].score for k in range(20)
    ]
    t = engine.calibrate(impostors, 0.05)
    assert np.mean(np.array(impostors) >= t) <= 0.05
    assert engine.identify({1: impression(finger(3, 1), 1)})[0].subject_id == "P3"


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_searches_shards_and_merges(tmp_path: Path) -> None:
    from scomm.biometrics.shards import ShardedGallery, merge

    first = Gallery.create(tmp_path / "a")
    enrol_all(first, range(0, 10))
    second = Gallery.create(tmp_path / "b")
    enrol_all(second, range(10, 20))
    found = search_shards([tmp_path / "a", tmp_path / "b"], {1: impression(finger(14, 1), 3)}, 3)
    assert found[0].subject_id == "S014"
    assert found == sorted(found, key=lambda c: -c.score)
    # Actors kept open: every search is the merge of each shard's own search.
    third = Gallery.create(tmp_path / "c")
    enrol_all(third, range(20, 24))
    paths = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    sharded = ShardedGallery(paths, threads_per_shard=1, num_cpus=2)
    try:
        assert sharded.template_count == 2 * 24
        for s in (3, 12, 22):
            probe = {1: impression(finger(s, 1), s), 2: impression(finger(s, 2), s)}
            got = sharded.search(probe, 4)
            alone = merge([c for p in paths for c in Gallery.open(p).search(probe, 4)], 4)
            assert got == alone and got[0].subject_id == f"S{s:03d}"
    finally:
        sharded.close()
    with pytest.raises(InputError, match="not a gallery"):
        ShardedGallery([tmp_path / "a", tmp_path / "nowhere"])


def test_bulk_build_stores_what_one_by_one_enrolment_stores(tmp_path: Path) -> None:
    items = [(f"S{s:03d}", {1: finger(s, 1), 2: finger(s, 2)}) for s in range(12)]
    built = Gallery.build(tmp_path / "built", iter(items), workers=2, chunk=5)
    enrolled = Gallery.create(tmp_path / "enrolled")
    enrolled.enroll_many(items)
    enrolled.compact()
    for name in ("template_bytes", "code_bytes", "offsets", "entry_subject", "entry_finger"):
        a = np.load(tmp_path / "built" / "gen-0" / f"{name}.npy")
        b = np.load(tmp_path / "enrolled" / "gen-1" / f"{name}.npy")
        assert np.array_equal(a, b), name
    probe = {2: impression(finger(8, 2), 1)}
    assert built.search(probe, 3) == enrolled.search(probe, 3)
    with pytest.raises(GalleryError):
        Gallery.build(tmp_path / "built", iter(items))


def test_failed_bulk_build_leaves_nothing_behind(tmp_path: Path) -> None:
    items = [("A", {1: finger(1, 1)}), ("A", {1: finger(2, 1)})]  # the same id twice
    with pytest.raises(GalleryError):
        Gallery.build(tmp_path / "g", iter(items))
    assert list((tmp_path / "g").iterdir()) == []


def test_cli_enrolls_searches_and_describes_a_gallery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scomm.biometrics.formats import write_iso19794
    from scomm.cli import main

    files = {}
    for s in range(3):
        files[s] = tmp_path / f"s{s}.iso"
        files[s].write_bytes(write_iso19794(finger(s, 3)))
    probe = tmp_path / "probe.iso"
    probe.write_bytes(write_iso19794(impression(finger(1, 3), 4)))
    g = tmp_path / "g"
    for s in range(3):
        with pytest.raises(SystemExit) as done:
            main(
                [
                    "biometrics",
                    "enroll",
                    str(g),
                    "--subject",
                    f"P{s}",
                    "--finger",
                    f"3={files[s]}",
                    "--create",
                ]
            )
        assert done.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "search", str(g), "--finger", f"3={probe}", "--json"])
    assert done.value.code == 0

    found = json.loads(capsys.readouterr().out)
    assert found[0]["subject_id"] == "P1"
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "info", str(g)])
    assert "subjects 3" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "search", str(tmp_path / "nowhere"), "--finger", f"3={probe}"])
    assert done.value.code == 2


def test_shortlist_settings_bound_how_many_templates_are_fully_compared(
    gallery_dir: Path,
) -> None:
    g = Gallery.open(gallery_dir)
    probe = {2: impression(finger(6, 2), 2)}
    narrow = g.search(probe, 10, settings=SearchSettings(shortlist=1, shortlist_rate=0.0))
    assert [c.subject_id for c in narrow] == ["S006"]  # the screen's first is the mate
    wide = g.search(probe, 10, settings=SearchSettings(shortlist=1, shortlist_rate=1.0))
    assert len(wide) == 10 and wide[0].subject_id == "S006"
    # A fuse floor above every non-mate's score leaves only the mate.
    assert [
        c.subject_id
        for c in g.search(probe, 10, settings=SearchSettings(shortlist_rate=1.0, fuse_floor=0.1))
    ] == ["S006"]


def test_screen_from_transposed_codes_gives_the_word_by_word_scores(
    gallery_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scomm.biometrics import screen as module
    from scomm.biometrics.search import prepare_probe, screen_segment

    monkeypatch.setattr(module, "INDEX_TAIL_MAX", 4)  # rebuild after a few enrolments
    g = Gallery.open(gallery_dir)  # a memory-mapped base and a journal delta
    g.remove("S004")
    probes = [prepare_probe({p: impression(finger(s, p), s)}) for s, p in ((3, 1), (9, 2))]

    def check() -> None:
        for probe in probes:
            ((position, (_, code)),) = probe.items()
            for searched in (position, 0):
                for s, segment in enumerate(g._segments):
                    if not segment.entries:
                        continue
                    word_by_word = np.empty(segment.entries, dtype=np.float32)
                    codes = module.decode_codes(
                        segment.view("code_bytes"), segment.view("code_starts"), 0, segment.entries
                    )
                    folded, sizes = module.fold(codes, g.screen_layout)
                    module._screen(
                        folded,
                        sizes,
                        segment.view("entry_finger"),
                        segment.view("alive"),
                        module.fold(code, g.screen_layout)[0],
                        searched,
                        word_by_word,
                    )
                    got = screen_segment(g, s, code, searched)
                    assert np.array_equal(got, word_by_word)

    check()
    for extra in range(SUBJECTS, SUBJECTS + 12):  # enrolled after the first transposition
        g.enroll(f"S{extra:03d}", {1: finger(extra, 1), 2: finger(extra, 2)})
        check()
    g.remove("S030")
    check()


def test_subject_shortlist_keeps_the_mate_and_fuses_as_the_search_does(
    gallery_dir: Path,
) -> None:
    from scomm.biometrics.gallery import prepare_probe

    g = Gallery.open(gallery_dir)
    for s in (2, 17):
        probe = {1: impression(finger(s, 1), s), 2: impression(finger(s, 2), s)}
        by_subject = g.search(probe, 3, settings=SearchSettings(shortlist_subjects=2))
        by_finger = g.search(probe, 3)
        assert by_subject[0].subject_id == by_finger[0].subject_id == f"S{s:03d}"
        assert by_subject[0].score == pytest.approx(by_finger[0].score)
        # Verification scores a probe against named subjects with the same fusion.
        mate, other = g.verify(prepare_probe(probe), [f"S{s:03d}", "S000"])
        assert mate == pytest.approx(by_finger[0].score) and other < 0.1
    with pytest.raises(InputError):
        g.search(probe, 3, settings=SearchSettings(shortlist_subjects=0))
    with pytest.raises(GalleryError):
        g.verify(prepare_probe(probe), ["nobody"])


def test_prepared_enrolment_stores_what_enrolment_stores() -> None:
    from scomm.biometrics.gallery import prepare_probe

    plain, prepared = Gallery.in_memory(), Gallery.in_memory()
    for s in range(6):
        fingers = {1: finger(s, 1), 2: finger(s, 2)}
        plain.enroll(f"S{s}", fingers)
        prepared.enroll_prepared([(f"S{s}", prepare_probe(fingers))])
    probe = {2: impression(finger(4, 2), 3)}
    assert plain.search(probe, 3) == prepared.search(probe, 3)
    with pytest.raises(InputError):
        prepared.enroll_prepared([("X", prepare_probe({0: finger(9, 1)}))])  # no position
    with pytest.raises(GalleryError):
        prepared.enroll_prepared([("S1", prepare_probe({1: finger(9, 1)}))])  # enrolled
