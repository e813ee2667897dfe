"""Images that declare more pixels than a fingerprint has are refused before decoding, and
every WSQ image (files and booking transactions alike) goes through the one isolated codec."""

from __future__ import annotations

import dataclasses
import struct
import time
import zlib
from pathlib import Path

import nistitl
import numpy as np
import pytest
import tifffile

from scomm.biometrics import wsq_codec
from scomm.biometrics.images import read_image
from scomm.biometrics.wsq_codec import MAX_IMAGE_SIDE, _WsqWorker, encode_wsq, wsq_frame_size
from scomm.errors import ImageError, TransactionError
from scomm.forms.booking import example_submission, ridge_image
from scomm.forms.nist import read_transaction, write_transaction


def wsq_claiming(width: int, height: int) -> bytes:
    """A real WSQ image whose frame header is changed to claim ``width`` x ``height``."""
    data = bytearray(encode_wsq(ridge_image(np.random.default_rng(0), 64, 64)))
    frame = data.index(b"\xff\xa2")  # FFA2, Lf (2), black, white, height (2), width (2)
    data[frame + 6 : frame + 10] = struct.pack(">HH", height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` grey pixels, with one row of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def tiff_claiming(path: Path, width: int, height: int) -> bytes:
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages.first.tags["ImageWidth"].overwrite(width)
        tif.pages.first.tags["ImageLength"].overwrite(height)
    return path.read_bytes()


def test_the_size_check_reads_the_header_only() -> None:
    assert wsq_frame_size(wsq_claiming(9999, 9999)) == (9999, 9999)
    assert wsq_codec.check_declared_size(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE) is None
    assert wsq_codec.check_declared_size(MAX_IMAGE_SIDE + 1, 10) is not None
    assert wsq_codec.check_declared_size(0, 10) is not None


@pytest.mark.parametrize("kind", ["wsq", "png", "tiff"])
def test_an_image_bomb_is_refused_before_decoding(tmp_path: Path, kind: str) -> None:
    if kind == "wsq":
        data = wsq_claiming(9999, 9999)
    elif kind == "png":
        data = png_claiming(12_000, 12_000)  # under Pillow's own 179 M pixel guard
    else:
        data = tiff_claiming(tmp_path / "bomb.tif", 30_000, 30_000)
    started = time.perf_counter()
    with pytest.raises(ImageError) as info:
        read_image(data, where=f"bomb.{kind}")
    assert info.value.where == f"bomb.{kind}"
    assert "pixels declared" in info.value.problem and "before decoding" in info.value.problem
    assert str(MAX_IMAGE_SIDE) in info.value.problem
    assert time.perf_counter() - started < 5  # a guard against decoding it, not a benchmark


@pytest.mark.parametrize("kind", ["png", "tiff"])
def test_a_fingerprint_sized_image_still_reads(tmp_path: Path, kind: str) -> None:
    grey = ridge_image(np.random.default_rng(3), 120, 100)
    path = tmp_path / f"print.{kind}"
    if kind == "png":
        from PIL import Image

        Image.fromarray(grey).save(path)
    else:
        tifffile.imwrite(path, grey)
    assert np.array_equal(read_image(path), grey)


def test_wsq_files_are_decoded_in_the_isolated_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # The codec crashes its process on some damaged images; read_image must not run it in ours.
    crashing = _WsqWorker(source="import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    monkeypatch.setattr(wsq_codec, "_worker", crashing)
    try:
        data = encode_wsq(ridge_image(np.random.default_rng(1), 64, 64))
        with pytest.raises(ImageError, match="the WSQ decoder crashed on it"):
            read_image(data, where="scan.wsq")
    finally:
        crashing.close()


def ten_fingers() -> bytes:
    return write_transaction(example_submission(5, size=64))


def test_ten_fingers_claiming_9999_pixels_are_refused_at_the_first(tmp_path: Path) -> None:
    msg = nistitl.Message()
    msg.parse(ten_fingers())
    fingers = [record for record in msg._records if record.type == 14]
    assert len(fingers) == 10
    for record in fingers:
        record.HLL = record.VLL = 9999
        record.DATA = wsq_claiming(9999, 9999)
    started = time.perf_counter()
    with pytest.raises(TransactionError) as info:
        read_transaction(bytes(msg.NIST), "bomb.an2")
    assert str(info.value).startswith("bomb.an2: record 3 (Type-14), field 14.006 HLL: ")
    assert "9999x9999 pixels declared" in info.value.problem
    assert time.perf_counter() - started < 5


def test_a_raw_image_claiming_a_huge_size_is_refused_too() -> None:
    sub = example_submission(6, size=64, fingers=(1,))
    msg = nistitl.Message()
    msg.parse(write_transaction(dataclasses.replace(sub)))
    finger = next(record for record in msg._records if record.type == 14)
    finger.CGA = "NONE"
    finger.HLL = finger.VLL = 50_000
    with pytest.raises(TransactionError, match="50000x50000 pixels declared"):
        read_transaction(bytes(msg.NIST), "raw.an2")
