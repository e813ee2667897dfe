"""The booking transaction: ANSI/NIST-ITL written with nistitl, images WSQ-compressed.

Round trips keep every field (images close: WSQ is lossy; minutiae within the Type-9
quantization), nistitl and the WSQ codec read what we write on their own, a file built by hand
with nistitl's API reads, and every kind of damage is a TransactionError naming the record and
field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nistitl
import numpy as np
import PIL.Image
import pytest

from scomm.biometrics.template import BIFURCATION, ENDING, MINUTIA_DTYPE, OTHER, Template
from scomm.biometrics.wsq_codec import _WsqWorker
from scomm.errors import TransactionError
from scomm.forms.booking import (
    FINGER_POSITIONS,
    BookingSubmission,
    Charge,
    example_submission,
    ridge_image,
)
from scomm.forms.nist import (
    ansi_to_iso_quality,
    decode_wsq,
    encode_wsq,
    iso_to_ansi_quality,
    minutiae_subfields,
    read_transaction,
    read_transaction_file,
    write_transaction,
    write_transaction_file,
)

TEXT_FIELDS = (
    "transaction_control_number",
    "ori",
    "booked_at",
    "name",
    "date_of_birth",
    "sex",
    "place_of_birth",
    "charges",
    "contact",
    "destination_ori",
)


def assert_same_booking(a: BookingSubmission, b: BookingSubmission) -> None:
    for name in TEXT_FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    assert list(a.fingers) == list(b.fingers)
    for position, image in a.fingers.items():
        back = b.fingers[position]
        assert back.shape == image.shape and back.dtype == np.uint8
        diff = np.abs(back.astype(np.int16) - image.astype(np.int16))
        # WSQ at its fixed bit rate: a few grey levels on average (the images carry noise of
        # sd 6 that it smooths), and the ridge pattern itself survives.
        assert diff.mean() < 8.0, (position, diff.mean())
        assert np.corrcoef(back.ravel(), image.ravel())[0, 1] > 0.95


@pytest.fixture(scope="module")
def full() -> BookingSubmission:
    sub = example_submission(11, with_minutiae=True)
    return dataclasses.replace(
        sub,
        contact="SISTER ANA 619-555-0101",
        charges=(Charge("3530"), Charge("5404", "felony", "DUI WITH INJURY"), Charge("0301")),
    )


@pytest.fixture(scope="module")
def full_bytes(full: BookingSubmission) -> bytes:
    return write_transaction(full)


def test_round_trip_keeps_every_field_and_the_images(
    full: BookingSubmission, full_bytes: bytes
) -> None:
    back = read_transaction(full_bytes, "booking.an2")
    assert_same_booking(full, back)
    assert back.contact == "SISTER ANA 619-555-0101"
    assert [c.code for c in back.charges] == ["3530", "5404", "0301"]
    assert back.charges[1].grade == "felony"  # not the table's misdemeanor
    assert back.charges[1].description == "DUI WITH INJURY"
    assert back.booked_at.tzinfo is not None and back.booked_at == full.booked_at


def test_round_trip_of_the_minutiae_is_exact_to_the_type9_quantization(
    full: BookingSubmission, full_bytes: bytes
) -> None:
    back = read_transaction(full_bytes, "booking.an2")
    assert set(back.minutiae) == set(full.minutiae) == set(FINGER_POSITIONS)
    px_per_unit = 500 / 2540  # one 0.01 mm unit in pixels
    for position, template in full.minutiae.items():
        got = back.minutiae[position]
        assert (got.width, got.height, got.dpi, got.finger) == (
            template.width,
            template.height,
            500,
            position,
        )
        a, b = template.minutiae, got.minutiae
        assert len(a) == len(b) > 0
        assert np.abs(a["x"] - b["x"]).max() <= px_per_unit / 2 + 1e-3
        assert np.abs(a["y"] - b["y"]).max() <= px_per_unit / 2 + 1e-3
        turn = np.angle(np.exp(1j * (a["theta"].astype(float) - b["theta"].astype(float))))
        assert np.abs(turn).max() <= math.radians(0.5) + 1e-5
        assert (a["kind"] == b["kind"]).all()
        assert ((a["quality"] == 0) == (b["quality"] == 0)).all()
        assert np.abs(a["quality"].astype(int) - b["quality"].astype(int)).max() <= 1
    # Read, write, read again: the quantized values are a fixed point.
    again = read_transaction(write_transaction(back), "again.an2")
    for position, template in back.minutiae.items():
        assert (again.minutiae[position].minutiae == template.minutiae).all()


def test_minutia_encoding_follows_the_standard_format() -> None:
    m = np.zeros(3, dtype=MINUTIA_DTYPE)
    # 100 px from the left, 50 px from the top of a 400 px high image at 500 ppi;
    # ISO direction 0 (pointing right) is ANSI/NIST 180.
    m[0] = (100.0, 50.0, 0.0, ENDING, 100)
    m[1] = (0.0, 400.0, math.pi / 2, BIFURCATION, 0)
    m[2] = (10.0, 10.0, math.pi, OTHER, 1)
    template = Template(minutiae=m, width=300, height=400, dpi=500, finger=2)
    rows = minutiae_subfields(template)
    assert rows[0] == ["001", f"{round(100 * 5.08):04d}{round(350 * 5.08):04d}180", "2", "A"]
    assert rows[1] == ["002", "00000000270", "1", "B"]
    assert rows[2][1].endswith("000") and rows[2][2:] == ["63", "D"]


def test_quality_mapping_is_a_fixed_point() -> None:
    iso = np.arange(0, 101)
    ansi = iso_to_ansi_quality(iso)
    assert ansi[0] == 1 and ansi[100] == 2 and ansi[1] == 63
    assert ansi[1:].min() >= 2 and ansi.max() <= 63
    assert (np.diff(ansi[1:]) <= 0).all()  # higher ISO quality, more confident (lower) ANSI
    assert (iso_to_ansi_quality(ansi_to_iso_quality(ansi)) == ansi).all()


def test_nistitl_parses_what_we_write(full: BookingSubmission, full_bytes: bytes) -> None:
    msg = nistitl.Message()
    msg.parse(full_bytes)
    header = msg[0]
    assert (header.VER, header.TOT, header.NSR, header.NTR) == ("0500", "CAR", "19.69", "19.69")
    assert header.ORI == "CA0370000" and full.transaction_control_number == header.TCN
    assert header.DAI == "WVIAFIS0Z"
    types = [int(r.type) for r in msg]
    assert types == [1, 2] + [14] * 10 + [9] * 10
    assert len(header["CNT"]) == len(msg)
    text = msg[(2, 0)]
    assert text[18].value == full.name
    assert text[22].value == full.date_of_birth.strftime("%Y%m%d")
    for record in msg.iter(14):
        position = int(record.FGP)
        assert int(record.IDC) == position
        assert record.CGA == "WSQ20" and int(record.BPX) == 8 and int(record.IMP) == 1
        assert int(record.THPS) == int(record.TVPS) == 500 and int(record.SLC) == 1
        data = record.DATA
        assert data[:2] == b"\xff\xa0"  # WSQ start of image
        # The WSQ codec decodes the record's image on its own, at the size 14.006/14.007 say.
        with PIL.Image.open(io.BytesIO(data)) as image:
            assert image.format == "WSQ"
            assert image.size == (int(record.HLL), int(record.VLL))
            assert image.size[::-1] == full.fingers[position].shape
    for record in msg.iter(9):
        assert record._4 == "S" and int(record._10) == len(full.minutiae[int(record._6)])


def _hand_built(raw_image: np.ndarray, wsq_image: np.ndarray, slap: np.ndarray) -> bytes:
    """A transaction made with nistitl's API alone, as another tool would: version 0400,
    no 1.014 GMT, a raw (CGA NONE) finger, a WSQ finger, a four-finger slap control print,
    a Type-2 with only the fields scomm needs."""
    msg = nistitl.Message()
    msg.TOT = "CAR"
    header = msg[0]
    header.DAT = "20130704"
    header.DAI = "CA0000000"
    header.ORI = "TX2270000"
    header.TCN = "TX-20130704-0042"
    header.NSR = "19.69"
    header.NTR = "19.69"
    text = nistitl.AsciiRecord(2)
    text.IDC = 0
    text._18 = "LOPEZ,JUAN CARLOS"
    text._20 = "GT"
    text._22 = "19800229"
    text._24 = "M"
    text += nistitl.Field(2, 47, [["20130703", "POSSESSION OF MARIJUANA"]])
    text += nistitl.Field(2, 250, [["3562", "M"]])
    msg += text
    for idc, position, image, cga, data in (
        (1, 2, raw_image, "NONE", raw_image.tobytes()),
        (2, 7, wsq_image, "WSQ20", encode_wsq(wsq_image)),
        (3, 13, slap, "WSQ20", encode_wsq(slap)),
    ):
        record = nistitl.AsciiRecord(14)
        record.IDC = idc
        record.IMP = 0 if position == 13 else 1
        record.SRC = "TX2270000"
        record.FCD = "20130704"
        record.HLL = image.shape[1]
        record.VLL = image.shape[0]
        record.SLC = 1
        record.THPS = 500
        record.TVPS = 500
        record.CGA = cga
        record.BPX = 8
        record.FGP = position
        record.DATA = data
        msg += record
    photo = nistitl.AsciiRecord(10)  # a mugshot: not scomm's, skipped
    photo.IDC = 4
    photo.IMT = "FACE"
    photo.DATA = b"\xff\xd8 not really a JPEG \xff\xd9"
    msg += photo
    return bytes(msg.NIST)


def test_reads_a_transaction_built_by_hand_with_nistitl() -> None:
    rng = np.random.default_rng(5)
    raw = ridge_image(rng, 200, 180)
    wsq_image = ridge_image(rng, 220, 190)
    slap = ridge_image(rng, 300, 600)
    sub = read_transaction(_hand_built(raw, wsq_image, slap), "vendor.eft")
    assert sub.name == "LOPEZ,JUAN CARLOS" and sub.sex == "M" and sub.place_of_birth == "GT"
    assert sub.date_of_birth == dt.date(1980, 2, 29)
    assert sub.ori == "TX2270000" and sub.destination_ori == "CA0000000"
    assert sub.transaction_control_number == "TX-20130704-0042"
    assert sub.booked_at == dt.datetime(2013, 7, 4, tzinfo=dt.UTC)  # DAT only: midnight UTC
    assert sub.charges == (Charge("3562", "misdemeanor", "POSSESSION OF MARIJUANA"),)
    assert sub.contact is None and dict(sub.minutiae) == {}
    assert sorted(sub.fingers) == [2, 7]  # the slap is a control print, not a finger
    assert (sub.fingers[2] == raw).all()  # uncompressed: exact
    assert np.abs(sub.fingers[7].astype(int) - wsq_image).mean() < 8.0


def test_type4_fingerprint_records_are_refused_by_name(small: bytes) -> None:
    def add_type4(msg: nistitl.Message) -> None:
        record = nistitl.BinaryRecord(4)
        record.IDC = 9
        # IMP, FGP (6 bytes), ISR, HLL, VLL, GCA, then the image
        record.pack("!B6sBHHB", 1, bytes([3, 255, 255, 255, 255, 255]), 0, 8, 8, 0, bytes(64))
        msg += record

    data = mutate(small, add_type4)
    with pytest.raises(TransactionError, match=r"record 6 \(Type-4\): Type-4 fingerprint"):
        read_transaction(data, "old.eft")


def test_write_file_is_atomic_and_reads_back(tmp_path: Path) -> None:
    sub = example_submission(2, size=96, fingers=(1, 6))
    target = tmp_path / "out" / "booking.an2"
    assert write_transaction_file(sub, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["booking.an2"]  # no temporary left
    assert_same_booking(sub, read_transaction_file(target))
    with pytest.raises(TransactionError, match="missing.an2: cannot read the file"):
        read_transaction_file(tmp_path / "missing.an2")


def test_example_submission_is_reproducible_from_its_seed() -> None:
    a = example_submission(7, size=64, fingers=(3,))
    b = example_submission(7, size=64, fingers=(3,))
    c = example_submission(8, size=64, fingers=(3,))
    assert (a.fingers[3] == b.fingers[3]).all() and a.name == b.name
    assert not (a.fingers[3] == c.fingers[3]).all()


# ---------------------------------------------------------------------------------------------
# Damaged transactions: each names the record and field.


@pytest.fixture(scope="module")
def small() -> bytes:
    # Records: 1 Type-1, 2 Type-2, 3 Type-14 (finger 1), 4 Type-14 (finger 2), 5 Type-9 (1).
    sub = example_submission(4, size=96, fingers=(1, 2), with_minutiae=True)
    sub = dataclasses.replace(sub, minutiae={1: sub.minutiae[1]}, contact="BROTHER")
    return write_transaction(sub)


def mutate(data: bytes, change: Callable[[nistitl.Message], None]) -> bytes:
    msg = nistitl.Message()
    msg.parse(data)
    change(msg)
    return bytes(msg.NIST)


def set_field(record: int, tag: int, value: object) -> Callable[[nistitl.Message], None]:
    def change(msg: nistitl.Message) -> None:
        msg[record][tag].value = value

    return change


def drop_field(record: int, tag: int) -> Callable[[nistitl.Message], None]:
    def change(msg: nistitl.Message) -> None:
        del msg[record][tag]

    return change


def drop_records(rtype: int) -> Callable[[nistitl.Message], None]:
    def change(msg: nistitl.Message) -> None:
        for record in list(msg.iter(rtype)):
            msg -= record

    return change


def replace_bytes(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def length_field(data: bytes, tag: bytes) -> bytes:
    start = data.index(tag)
    return data[start : data.index(b"\x1d", start)]


CASES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty file": (lambda d: b"", "empty file"),
    "not ANSI/NIST": (lambda d: b"%PDF-1.4 hello", r"record 1 \(Type-1\), field 1\.001 LEN"),
    "truncated in the last record": (
        lambda d: d[:-100],
        r"record 5 \(Type-9\), field 9\.001 LEN: says \d+ bytes but only \d+ remain: "
        "the file is truncated",
    ),
    "truncated inside an image": (
        lambda d: d[: d.index(b"4.001:", d.index(b"14.999:")) - 500],
        r"record 3 \(Type-14\), field 14\.001 LEN: says \d+ bytes .* truncated",
    ),
    "last record missing": (
        lambda d: d[: d.index(b"9.001:")],
        r"ends after record 4 .* 1\.003 CNT lists 5 records: the file is truncated",
    ),
    "Type-2 length one too long": (
        lambda d: replace_bytes(
            d,
            length_field(d, b"2.001:"),
            b"2.001:" + str(int(length_field(d, b"2.001:")[6:]) + 1).encode(),
        ),
        r"record 2 \(Type-2\), field 2\.001 LEN: \d+ does not end the record",
    ),
    "Type-14 length too short": (
        lambda d: replace_bytes(
            d,
            length_field(d, b"14.001:"),
            b"14.001:" + str(int(length_field(d, b"14.001:")[7:]) - 7).encode(),
        ),
        r"record 3 \(Type-14\), field 14\.001 LEN: \d+ does not end the record",
    ),
    "extra bytes": (lambda d: d + b"\x00" * 12, "12 bytes follow record 5"),
    "missing TCN": (
        lambda d: mutate(d, drop_field(0, 9)),
        r"record 1 \(Type-1\), field 1\.009 TCN: missing",
    ),
    "missing DOB": (
        lambda d: mutate(d, drop_field(1, 22)),
        r"record 2 \(Type-2\), field 2\.022 DOB: missing",
    ),
    "missing name": (
        lambda d: mutate(d, drop_field(1, 18)),
        r"record 2 \(Type-2\), field 2\.018 NAM: missing",
    ),
    "missing charges": (
        lambda d: mutate(d, drop_field(1, 47)),
        r"record 2 \(Type-2\), field 2\.047 ASL: missing",
    ),
    "missing NCIC codes": (
        lambda d: mutate(d, drop_field(1, 250)),
        r"record 2 \(Type-2\), field 2\.250 CHG: missing",
    ),
    "missing image size": (
        lambda d: mutate(d, drop_field(3, 7)),
        r"record 4 \(Type-14\), field 14\.007 VLL: missing",
    ),
    "no Type-2": (lambda d: mutate(d, drop_records(2)), "lists no Type-2"),
    "bad DOB": (
        lambda d: mutate(d, set_field(1, 22, "1985-13-40")),
        r"record 2 \(Type-2\), field 2\.022 DOB: '1985-13-40' is not a date YYYYMMDD",
    ),
    "impossible DOB": (
        lambda d: mutate(d, set_field(1, 22, "19850230")),
        r"field 2\.022 DOB: '19850230' is not a date",
    ),
    "DOB after booking": (
        lambda d: mutate(d, set_field(1, 22, "20990101")),
        r"field 2\.022 DOB: 2099-01-01 is after the booking date",
    ),
    "bad transaction date": (
        lambda d: mutate(d, set_field(0, 5, "20131301")),
        r"record 1 \(Type-1\), field 1\.005 DAT: '20131301' is not a date",
    ),
    "bad capture date": (
        lambda d: mutate(d, set_field(2, 5, "2013")),
        r"record 3 \(Type-14\), field 14\.005 FCD: '2013' is not a date",
    ),
    "bad GMT": (
        lambda d: mutate(d, set_field(0, 14, "20130101256000Z")),
        r"field 1\.014 GMT: '20130101256000Z' is not a UTC time",
    ),
    "unknown NCIC code": (
        lambda d: mutate(d, lambda m: m[1][250][0].values.__setitem__(0, "9998")),
        r"record 2 \(Type-2\), field 2\.250 CHG: charge 1: .*'9998'",
    ),
    "bad grade": (
        lambda d: mutate(d, lambda m: m[1][250][-1].values.__setitem__(1, "Q")),
        r"field 2\.250 CHG: charge \d: grade 'Q'",
    ),
    "charges and codes disagree": (
        lambda d: mutate(d, set_field(1, 250, [["2303", "M"]])),
        r"record 2 \(Type-2\), field 2\.250 CHG: 1 charge\(s\) but 2\.047 ASL has 3",
    ),
    "bad ORI": (
        lambda d: mutate(d, set_field(0, 8, "CA37")),
        r"record 1 \(Type-1\), field 1\.008 ORI: 'CA37' is not a 9-character ORI",
    ),
    "not a criminal TOT": (
        lambda d: mutate(d, set_field(0, 4, "FANC")),
        r"field 1\.004 TOT: 'FANC' is not a criminal ten-print",
    ),
    "bad sex": (
        lambda d: mutate(d, set_field(1, 24, "Q")),
        r"record 2 \(Type-2\), field 2\.024 SEX: 'Q'",
    ),
    "unknown finger position": (
        lambda d: mutate(d, set_field(3, 13, "16")),
        r"record 4 \(Type-14\), field 14\.013 FGP: 16 is not a finger position",
    ),
    "duplicate finger": (
        lambda d: mutate(d, set_field(3, 13, "1")),
        r"record 4 \(Type-14\), field 14\.013 FGP: finger position 1 again "
        r"\(already in record 3\)",
    ),
    "corrupt WSQ": (
        lambda d: mutate(d, lambda m: setattr(m[2], "DATA", m[2].DATA[: len(m[2].DATA) // 2])),
        r"record 3 \(Type-14\), field 14\.999 DATA: the WSQ image is corrupt",
    ),
    "not WSQ at all": (
        lambda d: mutate(d, lambda m: setattr(m[3], "DATA", b"\x89PNG" + bytes(300))),
        r"record 4 \(Type-14\), field 14\.999 DATA: the WSQ image is corrupt",
    ),
    "image wider than HLL": (
        lambda d: mutate(d, lambda m: setattr(m[2], "HLL", int(m[2].HLL) - 1)),
        r"record 3 \(Type-14\), field 14\.999 DATA: the image is \d+x\d+ pixels but 14\.006 "
        r"HLL x 14\.007 VLL say",
    ),
    "image taller than VLL": (
        lambda d: mutate(d, lambda m: setattr(m[3], "VLL", int(m[3].VLL) + 3)),
        r"record 4 \(Type-14\), field 14\.999 DATA: the image is",
    ),
    "not 500 ppi": (
        lambda d: mutate(d, set_field(2, 9, "1000")),
        r"record 3 \(Type-14\), field 14\.008 SLC: .*500 ppi",
    ),
    "unsupported compression": (
        lambda d: mutate(d, set_field(2, 11, "JP2")),
        r"field 14\.011 CGA: compression 'JP2' not supported",
    ),
    "no fingerprint record": (
        lambda d: mutate(mutate(d, drop_records(9)), drop_records(14)),
        r"record 1 \(Type-1\), field 1\.003 CNT: lists no Type-14",
    ),
    "minutiae count wrong": (
        lambda d: mutate(d, lambda m: setattr(m[4], "_10", int(m[4]._10) + 1)),
        r"record 5 \(Type-9\), field 9\.010 NMN: says \d+ minutiae but 9\.012 holds",
    ),
    "minutia angle out of range": (
        lambda d: mutate(
            d, lambda m: m[4][12][0].values.__setitem__(1, m[4][12][0].values[1][:8] + "400")
        ),
        r"record 5 \(Type-9\), field 9\.012 MRC: minutia 1: angle 400",
    ),
    "minutiae of a finger without an image": (
        lambda d: mutate(d, set_field(4, 6, "5")),
        r"record 5 \(Type-9\), field 9\.006 FGP: finger 5 has no Type-14",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_transaction_names_record_and_field(small: bytes, case: str) -> None:
    damage, expected = CASES[case]
    with pytest.raises(TransactionError, match=expected) as caught:
        read_transaction(damage(small), "booking.an2")
    assert str(caught.value).startswith("booking.an2: ")


def test_the_undamaged_small_transaction_reads(small: bytes) -> None:
    sub = read_transaction(small, "booking.an2")
    assert sorted(sub.fingers) == [1, 2] and sorted(sub.minutiae) == [1]


def test_decode_wsq_refuses_garbage() -> None:
    image = ridge_image(np.random.default_rng(1), 64, 64)
    data = encode_wsq(image)
    assert decode_wsq(data).shape == (64, 64)
    for bad in (b"", data[:40], b"\xff\xa0" + bytes(100)):
        with pytest.raises(ValueError):
            decode_wsq(bad)


_CODEC_PROBE = """
import io, sys
import PIL.Image
import wsq
with PIL.Image.open(io.BytesIO(sys.stdin.buffer.read())) as image:
    image.load()
"""


def test_a_header_that_crashes_the_codec_is_refused_before_decoding(small: bytes) -> None:
    good = encode_wsq(ridge_image(np.random.default_rng(0), 64, 64))
    frame = good.index(b"\xff\xa2")  # WSQ start of frame: marker, Lf, A, B, Y (2), X (2)
    damaged = bytearray(good)
    damaged[frame + 8] = 0xFB  # the width's high byte: 64 -> 64320 pixels
    # The codec itself, in a throw-away process, dies on it (SIGSEGV).
    probe = subprocess.run(
        [sys.executable, "-c", _CODEC_PROBE], input=bytes(damaged), capture_output=True, timeout=60
    )
    if probe.returncode >= 0:
        pytest.skip("the damaged header did not crash the codec on this platform")
    with pytest.raises(ValueError, match="frame header says 64320x64 pixels"):
        decode_wsq(bytes(damaged))

    def swap_image(msg: nistitl.Message) -> None:
        msg[2].HLL = msg[2].VLL = 64
        msg[2].DATA = bytes(damaged)

    with pytest.raises(
        TransactionError,
        match=r"record 3 \(Type-14\), field 14\.999 DATA: the image is 64320x64 pixels but "
        r"14\.006 HLL x 14\.007 VLL say 64x64",
    ):
        read_transaction(mutate(small, swap_image), "crash.an2")


def test_a_decoder_crash_is_an_error_and_the_worker_restarts() -> None:
    # A worker that dies as the codec does on some damaged images (their crash depends on the
    # process's memory layout, so no image crashes it reliably).
    crashing = _WsqWorker(source="import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    try:
        for _ in range(2):  # and again: a new worker is started for the next image
            with pytest.raises(ValueError, match="the WSQ decoder crashed on it"):
                crashing.decode(b"\xff\xa0")
    finally:
        crashing.close()
    worker = _WsqWorker()
    try:
        image = ridge_image(np.random.default_rng(2), 80, 72)
        width, height, pixels = worker.decode(encode_wsq(image))
        assert (width, height, len(pixels)) == (72, 80, 72 * 80)
        data = encode_wsq(image)
        with pytest.raises(ValueError, match="WSQ Error"):
            worker.decode(data[: len(data) * 3 // 4])  # the codec's own error comes back
        assert worker.decode(encode_wsq(image))[:2] == (72, 80)
    finally:
        worker.close()


# ---------------------------------------------------------------------------------------------
# The domain objects check themselves.


def test_charge_defaults_come_from_the_offense_table() -> None:
    charge = Charge("2303")
    assert charge.grade == "misdemeanor" and charge.description == "Shoplifting"
    assert Charge("2303", "felony").grade == "felony"
    with pytest.raises(ValueError, match="9998"):
        Charge("9998")
    with pytest.raises(ValueError, match="4-digit"):
        Charge("23O3")
    with pytest.raises(ValueError, match="grade"):
        Charge("2303", "petty")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ori": "CA037"}, "ori"),
        ({"name": "Garcia Maria"}, "name"),
        ({"sex": "U"}, "sex"),
        ({"place_of_birth": "Mexico"}, "place_of_birth"),
        ({"booked_at": dt.datetime(2014, 1, 1)}, "timezone-aware"),
        ({"charges": ()}, "at least one arrest charge"),
        ({"fingers": {}}, "at least one finger"),
        ({"fingers": {11: np.zeros((64, 64), np.uint8)}}, "not a finger 1-10"),
        ({"fingers": {1: np.zeros((64, 64), np.float32)}}, "uint8"),
        ({"contact": "line\x1dbreak"}, "contact"),
        ({"date_of_birth": dt.date(2100, 1, 1)}, "after the booking date"),
    ],
)
def test_submission_refuses_bad_values(change: dict[str, object], message: str) -> None:
    base = example_submission(1, size=64, fingers=(1,))
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(base, **change)  # type: ignore[arg-type]


def test_submission_is_immutable_and_in_utc() -> None:
    base = example_submission(1, size=64, fingers=(1,))
    eastern = dt.timezone(dt.timedelta(hours=-5))
    sub = dataclasses.replace(base, booked_at=dt.datetime(2014, 4, 11, 22, 30, 5, 999, eastern))
    assert sub.booked_at == dt.datetime(2014, 4, 12, 3, 30, 5, tzinfo=dt.UTC)
    assert not sub.fingers[1].flags.writeable
    with pytest.raises(TypeError):
        sub.fingers[2] = sub.fingers[1]  # type: ignore[index]
    assert write_transaction(sub).count(b"1.014:20140412033005Z") == 1
