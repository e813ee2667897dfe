"""Gallery files checked on open: sizes, .npy headers, checksums of every file and of the
manifest; each damage a GalleryError naming the file, on the CLI too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _biometric_templates import impression, random_template

from scomm.biometrics.gallery import Gallery
from scomm.errors import GalleryError


@pytest.fixture()
def gallery_dir(tmp_path: Path) -> Path:
    g = Gallery.create(tmp_path / "g")
    for s in range(6):
        g.enroll(f"S{s}", {1: random_template(10 * s + 1), 2: random_template(10 * s + 2)})
    g.compact()  # the arrays on disk: generation 1
    return tmp_path / "g"


def gen_file(gallery_dir: Path, name: str) -> Path:
    return gallery_dir / "gen-1" / name


def open_error(gallery_dir: Path) -> str:
    with pytest.raises(GalleryError) as caught:
        Gallery.open(gallery_dir)
    return str(caught.value)


def test_an_intact_gallery_opens_with_or_without_checksums(gallery_dir: Path) -> None:
    probe = {1: impression(random_template(31), 3)}
    first = Gallery.open(gallery_dir).search(probe, 3)
    assert first[0].subject_id == "S3"
    assert Gallery.open(gallery_dir, verify=False).search(probe, 3) == first
    manifest = json.loads((gallery_dir / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"template_bytes", "code_bytes", "subject_ids"}
    assert all(len(entry["xxh3_64"]) == 16 for entry in manifest["files"].values())


def test_an_empty_array_file_is_named(gallery_dir: Path) -> None:
    gen_file(gallery_dir, "code_bytes.npy").write_bytes(b"")
    message = open_error(gallery_dir)
    assert "code_bytes.npy" in message and "empty" in message


def test_a_damaged_npy_header_is_named(gallery_dir: Path) -> None:
    path = gen_file(gallery_dir, "code_sizes.npy")
    data = bytearray(path.read_bytes())
    data[12:40] = b"{'descr': <f4', 'shape': ((("  # not a Python literal any more
    path.write_bytes(bytes(data))
    message = open_error(gallery_dir)
    assert "code_sizes.npy" in message and "header" in message


def test_a_flipped_bit_is_found_before_anything_is_enrolled_on_top(gallery_dir: Path) -> None:
    path = gen_file(gallery_dir, "template_bytes.npy")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    message = open_error(gallery_dir)
    assert "template_bytes.npy" in message and "checksum" in message
    # Without checksums the header and size still hold: it opens (a reader's own risk).
    assert len(Gallery.open(gallery_dir, verify=False)) == 6


def test_a_cut_short_array_file_is_named(gallery_dir: Path) -> None:
    path = gen_file(gallery_dir, "code_starts.npy")
    path.write_bytes(path.read_bytes()[:-8])
    message = open_error(gallery_dir)
    assert "code_starts.npy" in message and "cut short" in message


def test_subjects_and_manifest_are_checksummed(gallery_dir: Path) -> None:
    subjects = gen_file(gallery_dir, "subject_ids.npy")
    original = subjects.read_bytes()
    assert b"S1" in original
    subjects.write_bytes(original.replace(b"S1", b"S9"))
    assert "subject_ids.npy" in open_error(gallery_dir)
    subjects.write_bytes(original)
    manifest_path = gallery_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["threshold"] = 0.5  # edited by hand: the checksum no longer holds
    manifest_path.write_text(json.dumps(manifest))
    assert "manifest.json" in open_error(gallery_dir)
    manifest["version"] = 1
    manifest_path.write_text(json.dumps(manifest))
    assert "rebuild" in open_error(gallery_dir)


def test_the_threshold_is_stored_with_a_new_checksum(gallery_dir: Path) -> None:
    g = Gallery.open(gallery_dir)
    g.set_threshold(0.07)
    assert Gallery.open(gallery_dir).threshold == pytest.approx(0.07)


def test_the_cli_names_the_damaged_file(
    gallery_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scomm.cli import main

    gen_file(gallery_dir, "code_bytes.npy").write_bytes(b"")
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "info", str(gallery_dir)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "code_bytes.npy" in err and "empty" in err


def test_stored_arrays_are_what_numpy_reads(gallery_dir: Path) -> None:
    # The checked memory map reads the same values as numpy's own loader.
    g = Gallery.open(gallery_dir)
    for name in ("template_bytes", "template_starts", "offsets"):
        mapped = g._segments[0].arrays[name]
        assert np.array_equal(np.asarray(mapped), np.load(gen_file(gallery_dir, f"{name}.npy")))
