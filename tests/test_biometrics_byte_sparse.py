"""Byte-sparse storage of cylinders and index codes: lossless, compared as stored, and the upgrade
of a gallery written by an older scomm (word for word, or each template in four files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xxhash
from _biometric_templates import impression, random_template
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scomm.biometrics import byte_sparse, matcher, storage, subject_ids, upgrade
from scomm.biometrics.gallery import Gallery
from scomm.biometrics.screen import CODE_WORDS, index_code
from scomm.biometrics.upgrade import upgrade_gallery
from scomm.errors import GalleryError

# Words as a gallery's are: mostly zero bytes, some words all zero, a few full.
_byte = st.sampled_from([0, 0, 0, 0, 0, 1, 0x80, 0xFF, 0x5A])
_word = st.lists(_byte, min_size=8, max_size=8).map(lambda b: int.from_bytes(bytes(b), "little"))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 9).flatmap(
        lambda k: st.lists(st.lists(_word, min_size=5, max_size=5), min_size=k, max_size=k)
    )
)
def test_an_encoded_block_decodes_to_its_words(rows: list[list[int]]) -> None:
    words = np.array(rows, dtype=np.uint64).reshape(len(rows), 5)
    encoded = byte_sparse.encode(words)
    nonzero_bytes = int(np.count_nonzero(words.view(np.uint8)))
    assert encoded.shape[0] == words.size + nonzero_bytes
    # Decoded from the end of its array (no eight bytes left to read) and from inside one.
    assert np.array_equal(byte_sparse.decode(encoded, *words.shape), words)
    inside = np.concatenate([np.full(3, 0xEE, np.uint8), encoded, np.full(9, 0xEE, np.uint8)])
    out = np.empty_like(words)
    assert byte_sparse.decode_into(inside, 3, out) == 3 + encoded.shape[0]
    assert np.array_equal(out, words)


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint64, st.tuples(st.integers(0, 6), st.just(3))))
def test_any_words_survive_encoding(words: np.ndarray) -> None:
    assert np.array_equal(byte_sparse.decode(byte_sparse.encode(words), *words.shape), words)


def test_blocks_are_encoded_one_after_another() -> None:
    words = np.arange(1, 31, dtype=np.uint64).reshape(10, 3) << np.uint64(20)
    starts = np.array([0, 4, 4, 10])
    out, at = byte_sparse.encode_blocks(words, starts)
    assert at.tolist() == [
        0,
        len(byte_sparse.encode(words[:4])),
        len(byte_sparse.encode(words[:4])),
        len(out),
    ]
    assert np.array_equal(byte_sparse.decode(out[at[2] : at[3]], 6, 3), words[4:])


def test_cylinders_and_codes_of_real_templates_encode_losslessly_and_compare_alike() -> None:
    prepared = [matcher.prepare(random_template(s)) for s in range(12)]
    for p in prepared:
        block = matcher.encode_cylinders(p.bits, p.masks)
        bits, masks = matcher.decode_cylinder_block(block, len(p))
        assert np.array_equal(bits, p.bits) and np.array_equal(masks, p.masks)
        # Most cells are empty: the block is a fraction of the words.
        assert block.shape[0] < 0.6 * (p.bits.nbytes + p.masks.nbytes)
        code = index_code(p)
        assert np.array_equal(
            byte_sparse.decode(byte_sparse.encode(code[None]), 1, CODE_WORDS)[0], code
        )
    x = np.concatenate([p.x for p in prepared])
    y = np.concatenate([p.y for p in prepared])
    theta = np.concatenate([p.theta for p in prepared])
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in prepared])]).astype(np.int64)
    rows = byte_sparse.cylinder_rows(
        np.concatenate([p.bits for p in prepared]),
        np.concatenate([p.masks for p in prepared]),
        matcher.DISC_WORDS,
    )
    encoded, cylinder_starts = byte_sparse.encode_blocks(rows, offsets)
    f32 = np.float32
    records, starts = matcher.join_records(
        x.astype(f32), y.astype(f32), theta.astype(f32), offsets, encoded, cylinder_starts
    )
    for t, p in enumerate(prepared):  # the records joined at once are those made one by one
        record = records[starts[t] : starts[t + 1]]
        assert np.array_equal(record, matcher.encode_template(p))
        stored = matcher.decode_template(record, len(p))
        for name in ("x", "y", "theta", "bits", "masks"):
            assert np.array_equal(getattr(stored, name), getattr(p, name)), name
    which = np.array([3, 0, 11, 3, 7])
    probe = matcher.prepare(impression(random_template(3), 1))
    bits = np.concatenate([p.bits for p in prepared])
    masks = np.concatenate([p.masks for p in prepared])
    for parallel in (False, True):
        dense = matcher.compare_many(
            probe, x, y, theta, bits, masks, offsets, which, parallel=parallel
        )
        as_stored = matcher.compare_many_encoded(
            probe, records, starts, offsets, which, parallel=parallel
        )
        assert np.array_equal(dense, as_stored)
        assert dense[0] == max(dense)  # the mate, 3, first: the comparison is a real one


# --- a gallery written by an older scomm -----------------------------------------------------


def _save(gen: Path, files: dict[str, storage.FileEntry], arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        path = gen / f"{name}.npy"
        np.save(path, array)
        files[name] = storage.FileEntry(
            shape=list(array.shape), bytes=path.stat().st_size, xxh3_64=storage.file_digest(path)
        )


def _drop(gen: Path, files: dict[str, storage.FileEntry], names: tuple[str, ...]) -> None:
    for name in names:
        (gen / f"{name}.npy").unlink()
        del files[name]


def _as_format_5(directory: Path) -> None:
    """Rewrite a gallery's generation as scomm wrote it before format 6: the same records,
    one straight after another, not laid out by page."""
    manifest = storage.read_manifest(directory)
    gen = directory / f"gen-{manifest.generation}"
    segment, _ids = storage.read_generation(directory, manifest)
    records = [matcher.encode_template(segment.prepared(e)) for e in range(segment.entries)]
    files = dict(manifest.files)
    _drop(gen, files, ("template_starts", "template_bytes"))
    _save(
        gen,
        files,
        {
            "template_starts": np.cumsum([0] + [len(r) for r in records], dtype=np.int64),
            "template_bytes": np.concatenate(records),
        },
    )
    storage.write_manifest(directory, manifest.model_copy(update={"version": 5, "files": files}))


def _record_bytes(directory: Path) -> int:
    """The bytes of the records of a gallery's generation, without what pads them to pages."""
    segment, _ids = storage.read_generation(directory, storage.read_manifest(directory))
    return sum(len(matcher.encode_template(segment.prepared(e))) for e in range(segment.entries))


def _as_format_4(directory: Path) -> None:
    """Rewrite a gallery's generation as scomm wrote it before format 5: each template's
    minutiae in ``x``, ``y`` and ``theta``, its encoded cylinders in ``cylinder_bytes``."""
    manifest = storage.read_manifest(directory)
    gen = directory / f"gen-{manifest.generation}"
    segment, _ids = storage.read_generation(directory, manifest)
    prepared = [segment.prepared(e) for e in range(segment.entries)]
    encoded = [matcher.encode_cylinders(p.bits, p.masks) for p in prepared]
    sizes = [0] + [len(block) for block in encoded]
    files = dict(manifest.files)
    _drop(gen, files, ("template_starts", "template_bytes"))
    _save(
        gen,
        files,
        {
            **{
                name: np.concatenate([getattr(p, name) for p in prepared]).astype(np.float32)
                for name in ("x", "y", "theta")
            },
            "cylinder_starts": np.cumsum(sizes, dtype=np.int64),
            "cylinder_bytes": np.concatenate(encoded),
        },
    )
    storage.write_manifest(directory, manifest.model_copy(update={"version": 4, "files": files}))


def _as_format_3(directory: Path) -> None:
    """Rewrite a gallery's generation as scomm wrote it before format 4: cylinders and index
    codes word for word (``bits``, ``masks``, ``codes``), subject ids as one JSON list."""
    manifest = storage.read_manifest(directory)
    gen = directory / f"gen-{manifest.generation}"
    segment, stored_ids = storage.read_generation(directory, manifest)  # no journal replayed
    entries = segment.entries
    ids = [stored_ids[row] for row in range(stored_ids.rows)]
    prepared = [segment.prepared(e) for e in range(entries)]
    dense = {
        "codes": np.array([segment.code(e) for e in range(entries)], dtype=np.uint64),
        "bits": np.concatenate([p.bits for p in prepared]),
        "masks": np.concatenate([p.masks for p in prepared]),
    }
    _as_format_4(directory)
    files = dict(storage.read_manifest(directory).files)
    names = ("code_starts", "code_bytes", "cylinder_starts", "cylinder_bytes")
    _drop(gen, files, names + tuple(n for n, _dtype in subject_ids.ARRAYS))
    listed = json.dumps(ids).encode()
    (gen / "subjects.json").write_bytes(listed)
    files["subjects.json"] = storage.FileEntry(
        bytes=len(listed), xxh3_64=xxhash.xxh3_64_hexdigest(listed)
    )
    _save(gen, files, dense)
    storage.write_manifest(directory, manifest.model_copy(update={"version": 3, "files": files}))


OLDER_FORMATS = {3: _as_format_3, 4: _as_format_4}


def _searches(gallery: Gallery) -> list[object]:
    probes = [{1: impression(random_template(1000 * s + 1), s)} for s in (2, 5, 9)]
    return [gallery.search(p, 3) for p in probes]


@pytest.mark.parametrize("version", sorted(OLDER_FORMATS))
def test_an_older_gallery_is_refused_until_upgraded_then_holds_the_same(
    tmp_path: Path, version: int
) -> None:
    directory = tmp_path / "g"
    g = Gallery.create(directory)
    for s in range(10):
        g.enroll(f"S{s}", {1: random_template(1000 * s + 1), 2: random_template(1000 * s + 2)})
    g.compact()  # the subjects in the arrays of generation 1
    g.remove("S4")  # ... and a journal on top
    g.enroll("S10", {1: random_template(10_001)})
    before = _searches(Gallery.open(directory))
    files_before = storage.read_manifest(directory).files
    padding = (directory / "gen-1" / "template_bytes.npy").stat().st_size - _record_bytes(directory)
    OLDER_FORMATS[version](directory)
    size_older = sum(f.stat().st_size for f in (directory / "gen-1").iterdir())

    with pytest.raises(GalleryError, match=f"version {version} .*gallery-upgrade"):
        Gallery.open(directory)
    assert upgrade_gallery(directory) is True
    upgraded = Gallery.open(directory)
    assert storage.read_manifest(directory).version == storage.FORMAT_VERSION
    assert upgraded.generation == 2 and not (directory / "gen-1").exists()
    assert "S4" not in upgraded and "S10" in upgraded and len(upgraded) == 10
    assert _searches(upgraded) == before
    # the arrays as this version writes them, byte for byte
    files = storage.read_manifest(directory).files
    assert {k: f.xxh3_64 for k, f in files.items()} == {
        k: f.xxh3_64 for k, f in files_before.items()
    }
    size_now = sum(f.stat().st_size for f in (directory / "gen-2").iterdir())
    # a third (from 3); three .npy headers fewer (from 4), the records' padding to pages aside
    assert 0 < padding < 4096 * len(upgraded) and size_now - padding < size_older
    assert upgrade_gallery(directory) is False  # already this format: nothing to do


@pytest.mark.parametrize("version", sorted(OLDER_FORMATS))
def test_an_upgrade_rewrites_a_chunk_at_a_time_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_chunks: list[int], version: int
) -> None:
    for name in ("whole", "parts"):
        g = Gallery.create(tmp_path / name)
        for s in range(9):
            g.enroll(f"S{s}", {1: random_template(1000 * s + 1)})
        g.compact()
        OLDER_FORMATS[version](tmp_path / name)
    assert upgrade_gallery(tmp_path / "whole") is True
    monkeypatch.setattr(upgrade, "MERGE_CHUNK", 2)
    written_chunks.clear()  # the writes that made the two galleries
    assert upgrade_gallery(tmp_path / "parts") is True
    assert written_chunks == [2, 2, 2, 2, 1]
    files = [storage.read_manifest(tmp_path / n).files for n in ("whole", "parts")]
    assert {k: f.xxh3_64 for k, f in files[0].items()} == {
        k: f.xxh3_64 for k, f in files[1].items()
    }
    assert _searches(Gallery.open(tmp_path / "parts")) == _searches(
        Gallery.open(tmp_path / "whole")
    )


def test_a_version_5_gallery_is_read_as_it_is_and_laid_out_by_page_when_upgraded(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "g"
    g = Gallery.create(directory)
    for s in range(6):
        g.enroll(f"S{s}", {1: random_template(1000 * s + 1)})
    g.compact()
    before = _searches(Gallery.open(directory))
    files_before = storage.read_manifest(directory).files
    _as_format_5(directory)
    unpadded = (directory / "gen-1" / "template_bytes.npy").stat().st_size
    five = Gallery.open(directory)
    assert _searches(five) == before  # the same records, read where they are
    five.enroll("S6", {1: random_template(6001)})  # the journal's write keeps the arrays' version
    assert storage.read_manifest(directory).version == 5
    after = _searches(five)
    assert upgrade_gallery(directory) is True
    assert storage.read_manifest(directory).version == storage.FORMAT_VERSION
    upgraded = Gallery.open(directory)
    assert "S6" in upgraded and _searches(upgraded) == after
    files = storage.read_manifest(directory).files
    assert {k: f.xxh3_64 for k, f in files.items()} == {
        k: f.xxh3_64 for k, f in files_before.items()
    }  # as this version writes them: padded to pages again
    assert (directory / "gen-2" / "template_bytes.npy").stat().st_size > unpadded


def test_the_upgrade_command_says_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scomm.cli import main

    directory = tmp_path / "g"
    g = Gallery.create(directory)
    g.enroll("A", {1: random_template(5)})
    g.compact()
    _as_format_3(directory)
    for _ in range(2):
        with pytest.raises(SystemExit) as done:
            main(["biometrics", "gallery-upgrade", str(directory)])
        assert done.value.code == 0
    first, second = capsys.readouterr().out.strip().splitlines()
    assert f"upgraded to format {storage.FORMAT_VERSION}" in first and "subjects 1" in first
    assert f"already format {storage.FORMAT_VERSION}" in second


def test_an_entry_given_fewer_bytes_than_its_record_needs_is_refused(tmp_path: Path) -> None:
    # Unverified opens skip the checksums; the block bounds still stand between a damaged
    # array and a read past its end.
    directory = tmp_path / "g"
    g = Gallery.create(directory)
    g.enroll("A", {1: random_template(5)})
    g.enroll("B", {1: random_template(6)})
    g.compact()
    gen = directory / "gen-1"
    starts = np.load(gen / "template_starts.npy")
    starts[1] = 10  # A's record: 10 bytes for its dozens of minutiae and cylinders
    np.save(gen / "template_starts.npy", starts)
    manifest = storage.read_manifest(directory)
    files = dict(manifest.files)
    path = gen / "template_starts.npy"
    files["template_starts"] = storage.FileEntry(
        shape=list(starts.shape), bytes=path.stat().st_size, xxh3_64=storage.file_digest(path)
    )
    storage.write_manifest(directory, manifest.model_copy(update={"files": files}))
    with pytest.raises(GalleryError, match="fewer bytes than its record needs"):
        Gallery.open(directory, verify=False)
