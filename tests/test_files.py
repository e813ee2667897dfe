"""Atomic writes: a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from scomm.files import write_atomic, write_bytes_atomic, write_text_atomic


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "figures.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["figures.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "figures.json"
    target.write_text("old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["figures.json"]


def test_the_writer_sees_the_suffix_and_the_file_gets_plain_permissions(tmp_path: Path) -> None:
    import os

    target = tmp_path / "det.png"
    seen: list[str] = []

    def write(tmp: Path) -> None:
        seen.append(tmp.suffix)  # writers such as matplotlib pick the format by extension
        tmp.write_bytes(b"\x89PNG")

    write_atomic(target, write, durable=True)
    assert seen == [".png"] and target.read_bytes() == b"\x89PNG"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    write_bytes_atomic(target, b"again")
    assert target.read_bytes() == b"again"
    assert [p.name for p in tmp_path.iterdir()] == ["det.png"]
