"""Template files (scomm's own, ISO/IEC 19794-2:2005) and fingerprint image files."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from scomm.biometrics.formats import (
    ISO_ANGLE_UNIT,
    from_bytes,
    read_iso19794,
    to_bytes,
    write_iso19794,
)
from scomm.biometrics.images import encode_wsq, read_image
from scomm.biometrics.template import BIFURCATION, ENDING, MINUTIA_DTYPE, OTHER, Template
from scomm.errors import ImageError, TemplateError
from scomm.settings import data_dir


def _random_template(seed: int, n: int = 40, finger: int = 3) -> Template:
    rng = np.random.default_rng(seed)
    m = np.zeros(n, MINUTIA_DTYPE)
    m["x"] = rng.uniform(0, 500, n)
    m["y"] = rng.uniform(0, 600, n)
    m["theta"] = rng.uniform(0, 2 * np.pi, n)
    m["kind"] = rng.choice([ENDING, BIFURCATION, OTHER], n)
    m["quality"] = rng.integers(0, 101, n)
    return Template(m, width=500, height=600, dpi=500, finger=finger)


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (a.astype(float) - b.astype(float)))))


# --------------------------------------------------------------------------------------------
# scomm's compact format


def test_own_format_round_trip_to_its_quantisation() -> None:
    t = _random_template(1)
    data = to_bytes(t)
    assert len(data) == 15 + 8 * len(t) + 4  # header, quality, 8 bytes a minutia, checksum
    back = from_bytes(data)
    assert (back.width, back.height, back.dpi, back.finger) == (500, 600, 500, 3)
    a, b = t.minutiae, back.minutiae
    assert np.all(np.abs(a["x"] - b["x"]) <= 1 / 16 + 1e-4)
    assert np.all(np.abs(a["y"] - b["y"]) <= 1 / 16 + 1e-4)
    assert np.all(_angle_diff(a["theta"], b["theta"]) <= np.pi / 65536 + 1e-6)
    assert np.array_equal(a["kind"], b["kind"]) and np.array_equal(a["quality"], b["quality"])
    # a second trip changes nothing: what was read is exactly representable
    assert to_bytes(back) == data


def test_own_format_empty_template() -> None:
    t = Template(np.zeros(0, MINUTIA_DTYPE), width=10, height=10)
    assert len(from_bytes(to_bytes(t))) == 0


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda d: b"XXXX" + d[4:], "not a scomm template"),
        (lambda d: d[:4] + b"\x03" + d[5:], "unsupported template version 3"),
        (lambda d: d[:-9], "header says"),
        (lambda d: d[:10], "truncated"),
        (lambda d: d[:20] + bytes([d[20] ^ 0xFF]) + d[21:], "checksum"),
    ],
)
def test_own_format_refuses_damaged_data(damage: object, problem: str) -> None:
    data = to_bytes(_random_template(2))
    assert callable(damage)
    with pytest.raises(TemplateError) as err:
        from_bytes(damage(data), where="person42.tpl")
    assert err.value.where == "person42.tpl"
    assert problem in err.value.problem


# --------------------------------------------------------------------------------------------
# ISO/IEC 19794-2:2005


def test_iso_round_trip_is_lossless_to_the_iso_grid() -> None:
    views = [_random_template(3, finger=2), _random_template(4, n=7, finger=7)]
    data = write_iso19794(views)
    assert data[:8] == b"FMR\x00 20\x00"
    assert struct.unpack(">I", data[8:12])[0] == len(data)
    back = read_iso19794(data)
    assert [t.finger for t in back] == [2, 7]
    for t, b in zip(views, back, strict=True):
        assert len(t) == len(b)
        assert np.array_equal(np.rint(t.minutiae["x"]), b.minutiae["x"])
        assert np.array_equal(np.rint(t.minutiae["y"]), b.minutiae["y"])
        assert np.all(
            _angle_diff(t.minutiae["theta"], b.minutiae["theta"]) <= ISO_ANGLE_UNIT / 2 + 1e-6
        )
        assert np.array_equal(t.minutiae["kind"], b.minutiae["kind"])
        assert np.array_equal(t.minutiae["quality"], b.minutiae["quality"])
        assert b.dpi == 500 and (b.width, b.height) == (500, 600)
    # once on the grid, export and import are exact inverses
    assert write_iso19794(back) == data


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda d: b"FMX\x00" + d[4:], "format identifier"),
        (lambda d: d[:4] + b" 30\x00" + d[8:], "version"),
        (lambda d: d[:-1], "record length"),
        (lambda d: d[:12], "truncated"),
    ],
)
def test_iso_refuses_damaged_records(damage: object, problem: str) -> None:
    data = write_iso19794([_random_template(5)])
    assert callable(damage)
    with pytest.raises(TemplateError) as err:
        read_iso19794(damage(data), where="101_1.iso")
    assert problem in err.value.problem
    assert err.value.where.startswith("101_1.iso")


def test_iso_record_cut_inside_its_minutiae() -> None:
    data = bytearray(write_iso19794([_random_template(6)]))
    cut = bytes(data[:100])
    cut = cut[:8] + struct.pack(">I", len(cut)) + cut[12:]  # a consistent length field
    with pytest.raises(TemplateError, match="ends inside"):
        read_iso19794(cut)


@pytest.fixture(scope="module")
def fvc_iso_files() -> list[Path]:
    root = data_dir() / "fvc2002"
    files = sorted(root.glob("DB*_B/*.iso"))
    if not files:
        pytest.skip(f"FVC2002 .iso files not found under {root} (set SCOMM_DATA_DIR)")
    return files


@pytest.mark.shared_data
def test_every_fvc2002_iso_record_imports_and_re_exports_exactly(
    fvc_iso_files: list[Path],
) -> None:
    assert len(fvc_iso_files) == 320
    total = 0
    for path in fvc_iso_files:
        data = path.read_bytes()
        views = read_iso19794(data, str(path))
        # what the header states: number of views (byte 22), then per view its count
        assert len(views) == data[22]
        pos = 24
        for view in views:
            assert len(view) == data[pos + 3]
            pos += (
                4 + 6 * len(view) + 2 + struct.unpack(">H", data[pos + 4 + 6 * len(view) :][:2])[0]
            )
            assert view.dpi == 500
            assert set(np.unique(view.minutiae["kind"])) <= {ENDING, BIFURCATION, OTHER}
        total += sum(len(v) for v in views)
        assert write_iso19794(views) == data, path
    assert total > 320 * 10


# --------------------------------------------------------------------------------------------
# Image files


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    y, x = np.mgrid[0:200, 0:160]
    return (128 + 100 * np.sin(x / 4.0) * np.cos(y / 5.0)).astype(np.uint8)


def test_png_and_tiff_read_back_exactly(grey: np.ndarray, tmp_path: Path) -> None:
    png = tmp_path / "print.png"
    Image.fromarray(grey).save(png)
    tif = tmp_path / "print.tif"
    tifffile.imwrite(tif, grey)
    assert np.array_equal(read_image(png), grey)
    assert np.array_equal(read_image(tif), grey)
    assert np.array_equal(read_image(tif.read_bytes()), grey)


def test_wsq_encodes_and_decodes_close_to_the_original(grey: np.ndarray) -> None:
    data = encode_wsq(grey)
    assert data[:2] == b"\xff\xa0"
    assert len(data) < grey.size / 3  # it does compress
    back = read_image(data, where="print.wsq")
    assert back.shape == grey.shape
    assert np.abs(back.astype(int) - grey.astype(int)).mean() < 8


@pytest.mark.parametrize("kind", ["wsq", "png", "tiff"])
def test_truncated_or_corrupt_files_raise_image_error(grey: np.ndarray, kind: str) -> None:
    if kind == "wsq":
        data = encode_wsq(grey)
    else:
        buffer = io.BytesIO()
        if kind == "png":
            Image.fromarray(grey).save(buffer, format="PNG")
        else:
            tifffile.imwrite(buffer, grey)
        data = buffer.getvalue()
    with pytest.raises(ImageError) as err:
        read_image(data[: len(data) // 3], where=f"scan.{kind}")
    assert err.value.where == f"scan.{kind}"


def test_unknown_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="unknown"):
        read_image(b"this is not an image at all", where="notes.txt")
    with pytest.raises(ImageError, match="too short"):
        read_image(b"\xff\xa0", where="tiny.wsq")
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "absent.png")


@pytest.mark.shared_data
def test_fvc_tiff_reads_as_grey(fvc_iso_files: list[Path]) -> None:
    img = read_image(fvc_iso_files[0].with_suffix(".tif"))
    assert img.dtype == np.uint8 and img.ndim == 2 and min(img.shape) >= 256


def test_template_quality_is_stored_and_version_1_still_read() -> None:
    import struct
    import zlib

    from scomm.biometrics.formats import from_bytes, read_iso19794, to_bytes, write_iso19794

    m = np.zeros(3, MINUTIA_DTYPE)
    m["x"], m["y"], m["kind"] = [10, 20, 30], [40, 50, 60], ENDING
    assessed = Template(m, 300, 400, quality=37)
    assert from_bytes(to_bytes(assessed)).quality == 37
    assert from_bytes(to_bytes(Template(m, 300, 400))).quality is None
    assert read_iso19794(write_iso19794(assessed))[0].quality == 37
    # Version 1 had no quality byte: read as never assessed.
    v2 = to_bytes(assessed)
    v1 = v2[:4] + b"\x01" + v2[5:14] + v2[15:-4]
    v1 += struct.pack(">I", zlib.crc32(v1))
    old = from_bytes(v1)
    assert old.quality is None and np.array_equal(old.minutiae, from_bytes(v2).minutiae)
    with pytest.raises(ValueError):
        Template(m, 300, 400, quality=101)
