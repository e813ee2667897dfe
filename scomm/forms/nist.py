"""The booking transaction on the wire: ANSI/NIST-ITL 1-2011 with the FBI EBTS conventions.

A Livescan sends a criminal ten-print submission (EBTS TOT "CAR") to the State Identification
Bureau, which forwards it to FBI CJIS. :func:`write_transaction` makes one from a
:class:`~scomm.forms.booking.BookingSubmission` with the ``nistitl`` package, the fingerprint
images compressed with the ``wsq`` package (the FBI's WSQ codec, as a Pillow plugin);
:func:`read_transaction` reads one back and checks everything, so that a bad file is an error
that names the record and field (``TransactionError``), never a half-read booking.

What goes where
---------------
Record numbers count from 1 in file order (record 1 is the Type-1 header).

Type-1 (transaction information)
  1.001 LEN, 1.002 VER "0500" (ANSI/NIST-ITL 1-2011), 1.003 CNT (nistitl computes it),
  1.004 TOT "CAR", 1.005 DAT booking date (UTC), 1.007 DAI destination (default the FBI's
  ``WVIAFIS0Z``), 1.008 ORI booking agency, 1.009 TCN, 1.011 NSR and 1.012 NTR "19.69"
  (pixels per mm = 500 ppi), 1.013 DOM "NORAM" (the EBTS domain), 1.014 GMT the booking time
  "YYYYMMDDhhmmssZ" (the time of day has no EBTS Type-2 field; 1.014 is the standard's UTC
  time stamp).

Type-2 (descriptive text, IDC 0), EBTS field numbers:
  2.005 RET "Y" (retain the arrest in the FBI file), 2.018 NAM "LAST,FIRST", 2.020 POB,
  2.022 DOB, 2.024 SEX, 2.038 DPR date printed, 2.045 DOA date of arrest (both the booking
  date), 2.047 ASL arrest segment literal: one subfield per charge, items DOO (date of
  offense; left empty, a booking does not know it) and AOL (arrest offense literal, the
  charge description).
  EBTS has no field for the NCIC offense code or grade of a charge, nor for a person to notify,
  so scomm puts them in Type-2 fields EBTS does not define (2.2xx, the block states and
  vendors use for local data):
  2.250 CHG (scomm) one subfield per charge, in the order of 2.047 ASL, items: the NCIC
        4-digit code and the grade letter F (felony), M (misdemeanor) or I (infraction);
  2.251 NOT (scomm) the person's designated contact for notification, free text.

Type-14 (variable-resolution fingerprint image), one per finger, IDC = finger position:
  14.003 IMP 1 (live-scan rolled), 14.004 SRC booking ORI, 14.005 FCD capture date,
  14.006 HLL / 14.007 VLL width / height, 14.008 SLC 1 (pixels per inch), 14.009 THPS and
  14.010 TVPS 500, 14.011 CGA "WSQ20", 14.012 BPX 8, 14.013 FGP finger position,
  14.999 DATA the WSQ image.

Type-9 (minutiae), optional, one per finger that has a template, IDC = the finger's Type-14
IDC, in the ANSI/NIST "standard format" (9.004 FMT "S"):
  9.003 IMP 1, 9.005 OFR ("SCOMM", "A" automatic), 9.006 FGP, 9.007 FPC ("T", "UN": pattern
  not classified), 9.010 NMN count, 9.011 MRC 0 (no ridge counts), 9.012 minutiae, one
  subfield each: index "001", "XXXXYYYYTTT", quality, type.
  X and Y are in 0.01 mm from the image's lower-left corner (Y up), theta in whole degrees
  counter-clockwise from the X axis. scomm templates follow ISO/IEC 19794-2, whose minutia
  direction is opposite to ANSI/NIST's, so theta is turned by 180 degrees (see below). Quality: ISO 0 (unknown) <-> 1 ("no quality method");
  ISO 1-100 <-> 63-2 (2 is the highest confidence). Type: A ridge ending, B bifurcation,
  D undetermined (a "C" compound minutia reads as OTHER). Writing then reading is exact to
  this quantization (0.01 mm, 1 degree, 62 quality levels), and reading then writing gives
  the same record back.

On reading, ``booked_at`` is 1.014 GMT, or 1.005 DAT at 00:00 UTC where a file has no GMT.
Files from other tools may also carry: VER 0300-0502, TOT "CNA"; 14.011 CGA "WSQ" or
"NONE" (raw 8-bit); 14.008 SLC 2 (pixels per cm); plain control prints (14.013 FGP 11-15),
which are checked (decoded) but not kept; Type-9 records in other formats (9.004 FMT "U") and
records of other types (photos...), which are skipped. Type-4 binary fingerprint records are
refused: scomm reads Type-14 only.

The ISO <-> ANSI/NIST minutia angle: NIST's biomdi converts ISO 19794-2 to INCITS 378 with
no turn (``iso2ansi.c``) and INCITS 378 to ANSI/NIST Type-9 with a 180-degree one
(``fmr2an2k.c``); scomm does the same.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import nistitl
import numpy as np

from scomm.biometrics.template import BIFURCATION, ENDING, MINUTIA_DTYPE, OTHER, Template
from scomm.biometrics.wsq_codec import check_declared_size, decode_wsq, encode_wsq, wsq_frame_size
from scomm.errors import InputError, TransactionError
from scomm.files import write_bytes_atomic
from scomm.forms.booking import (
    FINGER_POSITIONS,
    MAX_CONTACT,
    MAX_LITERAL,
    PPI,
    SEX_CODES,
    BookingSubmission,
    Charge,
    Sex,
    problem_date_of_birth,
    problem_image,
    problem_name,
    problem_ori,
    problem_place_of_birth,
    problem_sex,
    problem_tcn,
    problem_text,
)
from scomm.offenses import Grade

VERSION = "0500"  # ANSI/NIST-ITL 1-2011
READ_VERSIONS = frozenset({"0300", "0400", "0500", "0501", "0502"})
TOT_CRIMINAL_TEN_PRINT = "CAR"
READ_TOTS = frozenset({"CAR", "CNA"})  # criminal ten-print, answer required / not required
SCAN_RESOLUTION = "19.69"  # pixels per millimetre: 500 ppi
DOMAIN = "NORAM"  # the EBTS (North American) domain name of 1.013

IMPRESSION_LIVESCAN_ROLLED = 1
# Ten-print impression types a booking may carry: live-scan / non-live-scan, plain / rolled,
# and live-scan swipe. Latent types (4-7) are not bookings.
READ_IMPRESSIONS = frozenset({0, 1, 2, 3, 8})
# Plain thumbs (11, 12), four-finger slaps (13, 14) and both thumbs (15): the control prints a
# ten-print card carries besides the rolled fingers; read (checked) but not kept.
CONTROL_PRINT_POSITIONS = frozenset({11, 12, 13, 14, 15})

FIELD_CHARGE_CODES = 250  # 2.250 CHG (scomm extension)
FIELD_CONTACT = 251  # 2.251 NOT (scomm extension)

GRADE_LETTER: dict[Grade, str] = {"felony": "F", "misdemeanor": "M", "infraction": "I"}
LETTER_GRADE: dict[str, Grade] = {letter: grade for grade, letter in GRADE_LETTER.items()}
SEX_BY_CODE: dict[str, Sex] = {code: code for code in SEX_CODES}

MINUTIA_LETTER = {ENDING: "A", BIFURCATION: "B", OTHER: "D"}
LETTER_MINUTIA = {"A": ENDING, "B": BIFURCATION, "C": OTHER, "D": OTHER}

# Field mnemonics, for messages (ANSI/NIST-ITL 1-2011 and EBTS names).
MNEMONICS: dict[int, dict[int, str]] = {
    1: {
        1: "LEN",
        2: "VER",
        3: "CNT",
        4: "TOT",
        5: "DAT",
        7: "DAI",
        8: "ORI",
        9: "TCN",
        11: "NSR",
        12: "NTR",
        13: "DOM",
        14: "GMT",
    },
    2: {
        1: "LEN",
        2: "IDC",
        5: "RET",
        18: "NAM",
        20: "POB",
        22: "DOB",
        24: "SEX",
        38: "DPR",
        45: "DOA",
        47: "ASL",
        FIELD_CHARGE_CODES: "CHG",
        FIELD_CONTACT: "NOT",
    },
    9: {
        1: "LEN",
        2: "IDC",
        3: "IMP",
        4: "FMT",
        5: "OFR",
        6: "FGP",
        7: "FPC",
        10: "NMN",
        11: "MRC",
        12: "MRC",
    },
    14: {
        1: "LEN",
        2: "IDC",
        3: "IMP",
        4: "SRC",
        5: "FCD",
        6: "HLL",
        7: "VLL",
        8: "SLC",
        9: "THPS",
        10: "TVPS",
        11: "CGA",
        12: "BPX",
        13: "FGP",
        999: "DATA",
    },
}

# Record types whose last field is binary image data (nistitl's "DATA" alias): their length
# cannot be checked against the first record separator, which may occur inside the image.
_DATA_RECORD_TYPES = frozenset(
    t for t, aliases in nistitl.ALIASES.items() if "DATA" in aliases.values()
)
_BINARY_RECORD_TYPES = frozenset({3, 4, 5, 6, 7, 8})  # 4-byte binary length, no tags

FS, GS, RS, US = b"\x1c", b"\x1d", b"\x1e", b"\x1f"
_LEN_TAG = re.compile(rb"(\d{1,2})\.001:(\d{1,12})\x1d")
_DATE = re.compile(r"[0-9]{8}")
_GMT = re.compile(r"[0-9]{14}Z")
_RESOLUTION = re.compile(r"[0-9]{2}\.[0-9]{2}")
_XYT = re.compile(r"[0-9]{11}")
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only (str.isdigit accepts "²")


# --------------------------------------------------------------------------------------------
# WSQ


# --------------------------------------------------------------------------------------------
# Writing


def _date(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _gmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


def _mm100(pixels: np.ndarray, dpi: int) -> np.ndarray:
    """Pixels -> 0.01 mm units (rounded): the ANSI/NIST standard-format coordinate unit."""
    return np.rint(pixels.astype(np.float64) * 2540.0 / dpi).astype(np.int64)


def iso_to_ansi_quality(quality: np.ndarray) -> np.ndarray:
    """ISO 0-100 (0 unknown) -> ANSI/NIST 9.012 1 (no quality) or 63..2 (2 = most confident)."""
    q = quality.astype(np.int64)
    ansi = 63 - np.rint((q - 1) * 61 / 99).astype(np.int64)
    return np.where(q == 0, 1, ansi)


def ansi_to_iso_quality(quality: np.ndarray) -> np.ndarray:
    """The inverse of :func:`iso_to_ansi_quality`; 0 (manually encoded) and 1 read as unknown."""
    v = quality.astype(np.int64)
    iso = 1 + np.rint((63 - v) * 99 / 61).astype(np.int64)
    return np.where(v <= 1, 0, iso)


def minutiae_subfields(template: Template) -> list[list[str]]:
    """The 9.012 subfields of a template (see the module docstring for the encoding)."""
    m = template.minutiae
    xs = _mm100(m["x"], template.dpi)
    ys = _mm100(template.height - m["y"].astype(np.float64), template.dpi)
    degrees = np.rint(np.degrees(m["theta"].astype(np.float64))).astype(np.int64)
    thetas = (degrees + 180) % 360
    qualities = iso_to_ansi_quality(m["quality"])
    rows = []
    for i in range(len(m)):
        kind = MINUTIA_LETTER.get(int(m["kind"][i]), "D")
        rows.append(
            [f"{i + 1:03d}", f"{xs[i]:04d}{ys[i]:04d}{thetas[i]:03d}", str(qualities[i]), kind]
        )
    return rows


def _add_text_fields(
    record: nistitl.AsciiRecord, fields: tuple[tuple[int, str | int], ...]
) -> None:
    for tag, value in fields:
        record += nistitl.Field(record.type, tag, str(value))


def build_message(sub: BookingSubmission) -> nistitl.Message:
    """The nistitl message of a submission (records in order: 1, 2, 14 per finger, 9s)."""
    msg = nistitl.Message()
    header = msg[0]
    header.VER = VERSION
    header.TOT = TOT_CRIMINAL_TEN_PRINT
    header.DAT = _date(sub.booked_at.date())
    header.DAI = sub.destination_ori
    header.ORI = sub.ori
    header.TCN = sub.transaction_control_number
    header.NSR = SCAN_RESOLUTION
    header.NTR = SCAN_RESOLUTION
    header.DOM = DOMAIN
    header.GMT = _gmt(sub.booked_at)

    booked = _date(sub.booked_at.date())
    text = nistitl.AsciiRecord(2)
    text.IDC = 0
    _add_text_fields(
        text,
        (
            (5, "Y"),
            (18, sub.name),
            (20, sub.place_of_birth),
            (22, _date(sub.date_of_birth)),
            (24, sub.sex),
            (38, booked),
            (45, booked),
        ),
    )
    text += nistitl.Field(2, 47, [["", c.description] for c in sub.charges])
    text += nistitl.Field(
        2, FIELD_CHARGE_CODES, [[c.code, GRADE_LETTER[c.grade]] for c in sub.charges]
    )
    if sub.contact is not None:
        _add_text_fields(text, ((FIELD_CONTACT, sub.contact),))
    msg += text

    for position, image in sub.fingers.items():
        rows, cols = image.shape
        finger = nistitl.AsciiRecord(14)
        finger.IDC = position
        _add_text_fields(
            finger,
            (
                (3, IMPRESSION_LIVESCAN_ROLLED),
                (4, sub.ori),
                (5, booked),
                (6, cols),
                (7, rows),
                (8, 1),
                (9, PPI),
                (10, PPI),
                (11, "WSQ20"),
                (12, 8),
                (13, position),
            ),
        )
        finger += nistitl.BinaryField(14, 999, encode_wsq(image))
        msg += finger

    for position, template in sub.minutiae.items():
        record = nistitl.AsciiRecord(9)
        record.IDC = position
        _add_text_fields(record, ((3, IMPRESSION_LIVESCAN_ROLLED), (4, "S")))
        record += nistitl.Field(9, 5, [["SCOMM", "A"]])
        _add_text_fields(record, ((6, position),))
        record += nistitl.Field(9, 7, [["T", "UN"]])
        _add_text_fields(record, ((10, len(template)), (11, 0)))
        if len(template):
            record += nistitl.Field(9, 12, minutiae_subfields(template))
        msg += record
    return msg


def write_transaction(sub: BookingSubmission) -> bytes:
    """The ANSI/NIST-ITL bytes of a booking submission."""
    return bytes(build_message(sub).NIST)


def write_transaction_file(sub: BookingSubmission, path: str | os.PathLike[str]) -> Path:
    """Write the transaction to ``path`` atomically (a temporary file, then a rename),
    readable by its owner only: it holds a person's name, date of birth and prints."""
    target = Path(path)
    data = write_transaction(sub)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(target), f"cannot be written ({exc.strerror or exc})") from None
    write_bytes_atomic(target, data, durable=True, private=True)
    return target


# --------------------------------------------------------------------------------------------
# Reading: framing


@dataclass(frozen=True)
class _Frame:
    number: int  # 1-based position in the file
    type: int
    start: int
    end: int  # exclusive


def _frame(data: bytes, where: str) -> list[_Frame]:
    """Split the file into records by their lengths, checking each against the bytes there.

    nistitl reports a bad length only as "too short" or "too long" for the whole buffer; this
    pass names the record, and checks 1.003 CNT against what the file holds.
    """
    if not data:
        raise TransactionError(where, "empty file: no Type-1 record")
    head = _LEN_TAG.match(data)
    if head is None or head.group(1) != b"1":
        raise TransactionError(
            where,
            "record 1 (Type-1), field 1.001 LEN: the file does not start with '1.001:' and a "
            "length; not an ANSI/NIST-ITL transaction",
        )
    first = _check_ascii_frame(data, where, 1, 1, 0, int(head.group(2)))
    listed = _content_list(data[first.start : first.end], where)
    frames = [first]
    offset = first.end
    for number, (rtype, _idc) in enumerate(listed, start=2):
        if offset >= len(data):
            raise TransactionError(
                where,
                f"the file ends after record {number - 1} but record 1 (Type-1), field 1.003 "
                f"CNT lists {len(listed) + 1} records: the file is truncated",
            )
        if rtype in _BINARY_RECORD_TYPES:
            if offset + 5 > len(data):
                raise _truncated(where, number, rtype, len(data) - offset, None)
            (length,) = struct.unpack(">I", data[offset : offset + 4])
            if length < 5:
                raise TransactionError(
                    where, f"record {number} (Type-{rtype}), field {rtype}.001 LEN: {length}"
                )
            if offset + length > len(data):
                raise _truncated(where, number, rtype, len(data) - offset, length)
            frame = _Frame(number, rtype, offset, offset + length)
        else:
            match = _LEN_TAG.match(data, offset)
            if match is None:
                raise TransactionError(
                    where,
                    f"record {number} (Type-{rtype}), field {rtype}.001 LEN: the record (byte "
                    f"{offset}) does not start with '{rtype}.001:' and a length: the previous "
                    "record's length is wrong or the file is damaged",
                )
            found = int(match.group(1))
            if found != rtype:
                raise TransactionError(
                    where,
                    f"record {number}: record 1 (Type-1), field 1.003 CNT lists it as "
                    f"Type-{rtype} but it is a Type-{found} record",
                )
            frame = _check_ascii_frame(data, where, number, rtype, offset, int(match.group(2)))
        frames.append(frame)
        offset = frame.end
    if offset < len(data):
        raise TransactionError(
            where,
            f"{len(data) - offset} bytes follow record {len(frames)}, the last that record 1 "
            "(Type-1), field 1.003 CNT lists: a wrong record length or a record missing "
            "from CNT",
        )
    return frames


def _truncated(where: str, number: int, rtype: int, left: int, length: int | None) -> Exception:
    says = f"says {length} bytes" if length is not None else "cannot be read"
    return TransactionError(
        where,
        f"record {number} (Type-{rtype}), field {rtype}.001 LEN: {says} but only {left} "
        "remain: the file is truncated",
    )


def _check_ascii_frame(
    data: bytes, where: str, number: int, rtype: int, offset: int, length: int
) -> _Frame:
    loc = f"record {number} (Type-{rtype}), field {rtype}.001 LEN"
    end = offset + length
    if end > len(data):
        raise _truncated(where, number, rtype, len(data) - offset, length)
    if data[end - 1 : end] != FS:
        raise TransactionError(
            where,
            f"{loc}: {length} does not end the record at a record separator (0x1C): "
            "wrong record length",
        )
    if rtype not in _DATA_RECORD_TYPES:
        # A text-only record ends at its first separator; an earlier one means LEN is too long.
        first_fs = data.find(FS, offset)
        if first_fs != end - 1:
            raise TransactionError(
                where,
                f"{loc}: {length} bytes, but the record ends after {first_fs + 1 - offset}: "
                "wrong record length",
            )
    return _Frame(number, rtype, offset, end)


def _content_list(record: bytes, where: str) -> list[tuple[int, int]]:
    """The (type, IDC) pairs that 1.003 CNT lists after its first subfield."""
    loc = "record 1 (Type-1), field 1.003 CNT"
    for raw in record.rstrip(FS).split(GS):
        if raw.startswith(b"1.003:"):
            subfields = [sf.split(US) for sf in raw[6:].split(RS)]
            break
    else:
        raise TransactionError(where, f"{loc}: missing")
    try:
        pairs = [(int(items[0]), int(items[1])) for items in subfields if len(items) == 2]
    except ValueError:
        pairs = []
    if len(pairs) != len(subfields) or not pairs or pairs[0][0] != 1:
        text = raw[6:].decode("latin-1")
        raise TransactionError(where, f"{loc}: {text!r} is not a list of record type, IDC")
    if pairs[0][1] != len(pairs) - 1:
        raise TransactionError(
            where,
            f"{loc}: says {pairs[0][1]} records follow Type-1 but lists {len(pairs) - 1}",
        )
    for rtype, _ in pairs[1:]:
        if rtype == 1 or not (1 < rtype <= 99):
            raise TransactionError(where, f"{loc}: lists a record of type {rtype}")
    return pairs[1:]


# --------------------------------------------------------------------------------------------
# Reading: fields


class _Record:
    """One parsed record with its place in the file, for reading fields and naming them."""

    def __init__(self, where: str, number: int, record: nistitl.AsciiRecord) -> None:
        self.where = where
        self.number = number
        self.record = record
        self.type = int(record.type)

    def loc(self, tag: int) -> str:
        name = MNEMONICS.get(self.type, {}).get(tag, "")
        return (
            f"record {self.number} (Type-{self.type}), "
            f"field {self.type}.{tag:03d}{' ' + name if name else ''}"
        )

    def fail(self, tag: int, problem: str) -> NoReturn:
        raise TransactionError(self.where, f"{self.loc(tag)}: {problem}")

    def fail_record(self, problem: str) -> NoReturn:
        raise TransactionError(self.where, f"record {self.number} (Type-{self.type}): {problem}")

    def has(self, tag: int) -> bool:
        return self.record[tag] is not None

    def text(self, tag: int) -> str:
        """A mandatory single-value field."""
        got = self.record[tag]
        if got is None:
            self.fail(tag, "missing (mandatory)")
        value = got.value
        if isinstance(value, list):
            self.fail(tag, f"has {len(value)} subfields, expected one value")
        text = str(value)
        if not text:
            self.fail(tag, "empty (mandatory)")
        return text

    def optional_text(self, tag: int) -> str | None:
        return self.text(tag) if self.has(tag) else None

    def integer(self, tag: int) -> int:
        text = self.text(tag)
        if not _DIGITS.fullmatch(text):
            self.fail(tag, f"{text!r} is not a number")
        return int(text)

    def date(self, tag: int) -> dt.date:
        text = self.text(tag)
        return self.parse_date(tag, text)

    def parse_date(self, tag: int, text: str) -> dt.date:
        if _DATE.fullmatch(text):
            try:
                return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                pass
        self.fail(tag, f"{text!r} is not a date YYYYMMDD")

    def subfields(self, tag: int) -> list[list[str]]:
        """A mandatory field as a list of subfields, each a list of items."""
        got = self.record[tag]
        if got is None:
            self.fail(tag, "missing (mandatory)")
        value = got.value
        if not isinstance(value, list):
            return [[str(value)]] if str(value) else []
        return [[str(i) for i in sf] if isinstance(sf, list) else [str(sf)] for sf in value]


def _check(rec: _Record, tag: int, problem: str | None) -> None:
    if problem:
        rec.fail(tag, problem)


def read_transaction(data: bytes, where: str) -> BookingSubmission:
    """Read and check a booking transaction; ``where`` names it (a file name) in errors."""
    frames = _frame(data, where)
    msg = nistitl.Message()
    try:
        msg.parse(data)
    # nistitl's parser fails in several ways on bad input (KeyError: a record type it has no
    # table for); each is a file it cannot read.
    except (nistitl.NistException, ValueError, IndexError, KeyError, struct.error) as exc:
        raise TransactionError(where, f"not a valid ANSI/NIST-ITL transaction: {exc}") from None
    if len(msg) != len(frames) or any(
        int(r.type) != f.type for r, f in zip(msg, frames, strict=True)
    ):
        raise TransactionError(where, "records do not match record 1 (Type-1), field 1.003 CNT")
    try:
        return _Reader(where, msg, frames).submission()
    except nistitl.NistException as exc:  # a field access nistitl refuses: name what it said
        raise TransactionError(where, f"not a valid ANSI/NIST-ITL transaction: {exc}") from None


def read_transaction_file(path: str | os.PathLike[str]) -> BookingSubmission:
    """Read and check the booking transaction in a file."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TransactionError(where, f"cannot read the file: {exc.strerror or exc}") from None
    return read_transaction(data, where)


class _Reader:
    def __init__(self, where: str, msg: nistitl.Message, frames: list[_Frame]) -> None:
        self.where = where
        self.records = [_Record(where, f.number, r) for f, r in zip(frames, msg, strict=True)]
        self.header = self.records[0]

    def of_type(self, rtype: int) -> Iterator[_Record]:
        return (r for r in self.records if r.type == rtype)

    def submission(self) -> BookingSubmission:
        h = self.header
        version = h.text(2)
        if version not in READ_VERSIONS:
            h.fail(
                2,
                f"{version!r} is not an ANSI/NIST-ITL version scomm reads "
                f"({', '.join(sorted(READ_VERSIONS))})",
            )
        tot = h.text(4)
        if tot not in READ_TOTS:
            h.fail(
                4,
                f"{tot!r} is not a criminal ten-print submission ({', '.join(sorted(READ_TOTS))})",
            )
        day = h.date(5)
        destination = h.text(7)
        _check(h, 7, problem_ori(destination))
        ori = h.text(8)
        _check(h, 8, problem_ori(ori))
        tcn = h.text(9)
        _check(h, 9, problem_tcn(tcn))
        for tag in (11, 12):
            value = h.text(tag)
            if not _RESOLUTION.fullmatch(value):
                h.fail(tag, f"{value!r} is not a resolution NN.NN (pixels per mm)")
        booked_at = self._booked_at(day)

        for rtype in (4, 3, 5, 6):
            for rec in self.of_type(rtype):
                rec.fail_record(
                    f"Type-{rtype} fingerprint records are not supported; scomm reads Type-14"
                )
        texts = list(self.of_type(2))
        if not texts:
            h.fail(3, "lists no Type-2 (descriptive text) record")
        if len(texts) > 1:
            texts[1].fail_record("a second Type-2 record; a booking has one")
        text = texts[0]

        name = text.text(18)
        _check(text, 18, problem_name(name))
        pob = text.text(20)
        _check(text, 20, problem_place_of_birth(pob))
        born = text.date(22)
        _check(text, 22, problem_date_of_birth(born, booked_at.date()))
        sex = text.text(24)
        _check(text, 24, problem_sex(sex))
        for tag in (38, 45):  # DPR, DOA: not kept (the booking date is 1.005/1.014)
            if text.has(tag):
                text.date(tag)
        contact = text.optional_text(FIELD_CONTACT)
        if contact is not None:
            _check(text, FIELD_CONTACT, problem_text(contact, MAX_CONTACT))
        charges = self._charges(text)
        # The images last: decoding is the costly check.
        fingers, sizes = self._fingers()
        minutiae = self._minutiae(fingers, sizes)
        try:
            return BookingSubmission(
                transaction_control_number=tcn,
                ori=ori,
                booked_at=booked_at,
                name=name,
                date_of_birth=born,
                sex=SEX_BY_CODE[sex],
                place_of_birth=pob,
                charges=charges,
                fingers=fingers,
                minutiae=minutiae,
                contact=contact,
                destination_ori=destination,
            )
        except ValueError as exc:  # every rule was checked above; this names a missed one
            raise TransactionError(self.where, f"not a valid booking: {exc}") from None

    def _booked_at(self, day: dt.date) -> dt.datetime:
        h = self.header
        gmt = h.optional_text(14)
        if gmt is None:
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        if not _GMT.fullmatch(gmt):
            h.fail(14, f"{gmt!r} is not a UTC time YYYYMMDDhhmmssZ")
        try:
            moment = dt.datetime.strptime(gmt, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            h.fail(14, f"{gmt!r} is not a UTC time YYYYMMDDhhmmssZ")
        # 1.005 DAT is the local date, so it may differ from the UTC date by a day.
        if abs((moment.date() - day).days) > 1:
            h.fail(14, f"{gmt!r} is more than a day from 1.005 DAT {_date(day)}")
        return moment

    def _charges(self, text: _Record) -> tuple[Charge, ...]:
        literals = text.subfields(47)
        if not literals:
            text.fail(47, "empty: a booking has at least one arrest charge")
        if not text.has(FIELD_CHARGE_CODES):
            text.fail(
                FIELD_CHARGE_CODES,
                "missing: scomm needs the NCIC code and grade of each charge of 2.047 ASL",
            )
        codes = text.subfields(FIELD_CHARGE_CODES)
        if len(codes) != len(literals):
            text.fail(
                FIELD_CHARGE_CODES,
                f"{len(codes)} charge(s) but 2.047 ASL has {len(literals)}",
            )
        charges = []
        for number, (literal, code_grade) in enumerate(zip(literals, codes, strict=True), start=1):
            if len(literal) != 2:
                text.fail(47, f"charge {number}: {len(literal)} items, expected DOO and AOL")
            if literal[0]:
                text.parse_date(47, literal[0])
            description = literal[1]
            problem = problem_text(description, MAX_LITERAL)
            if problem or not description:
                text.fail(47, f"charge {number}: AOL {problem or 'empty'}")
            if len(code_grade) != 2:
                text.fail(
                    FIELD_CHARGE_CODES,
                    f"charge {number}: {len(code_grade)} items, expected NCIC code and grade",
                )
            code, letter = code_grade
            if letter not in LETTER_GRADE:
                text.fail(
                    FIELD_CHARGE_CODES,
                    f"charge {number}: grade {letter!r} is not F, M or I",
                )
            try:
                charges.append(Charge(code, LETTER_GRADE[letter], description))
            except ValueError as exc:
                text.fail(FIELD_CHARGE_CODES, f"charge {number}: {exc}")
        return tuple(charges)

    def _fingers(
        self,
    ) -> tuple[dict[int, np.ndarray], dict[int, tuple[_Record, tuple[int, int]]]]:
        fingers: dict[int, np.ndarray] = {}
        seen: dict[int, _Record] = {}
        images = list(self.of_type(14))
        if not images:
            self.header.fail(3, "lists no Type-14 fingerprint image record")
        for rec in images:
            position, image = self._finger_image(rec)
            if position in CONTROL_PRINT_POSITIONS:
                continue
            if position in seen:
                rec.fail(
                    13,
                    f"finger position {position} again (already in record {seen[position].number})",
                )
            seen[position] = rec
            fingers[position] = image
        if not fingers:
            self.header.fail(3, "lists no Type-14 record of a finger 1-10 (only control prints)")
        sizes = {p: (seen[p], (fingers[p].shape[0], fingers[p].shape[1])) for p in fingers}
        return fingers, sizes

    def _finger_image(self, rec: _Record) -> tuple[int, np.ndarray]:
        rec.integer(2)  # IDC: every record after Type-1 has one
        positions = rec.subfields(13)
        if len(positions) != 1 or len(positions[0]) != 1 or not _DIGITS.fullmatch(positions[0][0]):
            rec.fail(13, f"{positions!r} is not one finger position")
        position = int(positions[0][0])
        if position not in FINGER_POSITIONS and position not in CONTROL_PRINT_POSITIONS:
            rec.fail(13, f"{position} is not a finger position (1-10, or 11-15 control prints)")
        impression = rec.integer(3)
        if impression not in READ_IMPRESSIONS:
            rec.fail(
                3,
                f"{impression} is not a ten-print impression type "
                f"({', '.join(map(str, sorted(READ_IMPRESSIONS)))})",
            )
        rec.text(4)
        rec.date(5)
        width = rec.integer(6)
        height = rec.integer(7)
        too_big = check_declared_size(width, height)
        if too_big:  # refused before any image data is looked at, let alone decoded
            rec.fail(6, f"{too_big} (14.006 HLL x 14.007 VLL)")
        scale = rec.integer(8)
        horizontal = rec.integer(9)
        vertical = rec.integer(10)
        # 500 ppi: SLC 1 (pixels per inch) 500, or SLC 2 (pixels per cm) 197 (196.85).
        if not (
            (scale == 1 and horizontal == vertical == PPI)
            or (scale == 2 and horizontal == vertical and horizontal in (196, 197))
        ):
            rec.fail(
                8,
                f"SLC {scale}, THPS {horizontal}, TVPS {vertical}: scomm reads 500 ppi prints only",
            )
        bits = rec.integer(12)
        if bits != 8:
            rec.fail(12, f"{bits} bits per pixel; scomm reads 8-bit grey images")
        compression = rec.text(11).upper()
        data_field = rec.record[999]
        if data_field is None or not isinstance(data_field.value, bytes | bytearray):
            rec.fail(999, "missing: no image data")
        data = bytes(data_field.value)
        if compression in ("WSQ20", "WSQ"):
            try:
                frame = wsq_frame_size(data)
            except ValueError as exc:
                rec.fail(999, f"the WSQ image is corrupt ({exc})")
            if frame != (width, height):
                rec.fail(
                    999,
                    f"the image is {frame[0]}x{frame[1]} pixels but 14.006 HLL x 14.007 VLL "
                    f"say {width}x{height}",
                )
            try:
                image = decode_wsq(data)
            except ValueError as exc:
                rec.fail(999, f"the WSQ image is corrupt ({exc})")
        elif compression == "NONE":
            if len(data) != width * height:
                rec.fail(
                    999,
                    f"{len(data)} bytes of uncompressed image, 14.006 HLL x "
                    f"14.007 VLL = {width * height}",
                )
            image = np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
        else:
            rec.fail(11, f"compression {compression!r} not supported (WSQ20, NONE)")
        if image.shape != (height, width):
            rec.fail(
                999,
                f"the image is {image.shape[1]}x{image.shape[0]} pixels but 14.006 "
                f"HLL x 14.007 VLL say {width}x{height}",
            )
        if position in FINGER_POSITIONS:
            problem = problem_image(image)
            if problem:
                rec.fail(999, problem)
        return position, image

    def _minutiae(
        self,
        fingers: dict[int, np.ndarray],
        sizes: dict[int, tuple[_Record, tuple[int, int]]],
    ) -> dict[int, Template]:
        templates: dict[int, Template] = {}
        seen: dict[int, _Record] = {}
        for rec in self.of_type(9):
            if rec.text(4) != "S":
                continue  # user-defined minutiae formats: not scomm's to read
            position = rec.integer(6)
            if position not in FINGER_POSITIONS:
                rec.fail(6, f"{position} is not a finger position 1-10")
            if position in seen:
                rec.fail(
                    6,
                    f"minutiae of finger {position} again (already in record "
                    f"{seen[position].number})",
                )
            if position not in fingers:
                rec.fail(
                    6,
                    f"finger {position} has no Type-14 image record; the image gives "
                    "the minutiae their frame",
                )
            image_record, (height, width) = sizes[position]
            idc = rec.integer(2)
            image_idc = image_record.integer(2)
            if idc != image_idc:
                rec.fail(
                    2,
                    f"IDC {idc} is not that of finger {position}'s Type-14 record "
                    f"{image_record.number} (IDC {image_idc})",
                )
            seen[position] = rec
            templates[position] = self._template(rec, position, width, height)
        return templates

    def _template(self, rec: _Record, position: int, width: int, height: int) -> Template:
        count = rec.integer(10)
        rows = rec.subfields(12) if rec.has(12) else []
        if len(rows) != count:
            rec.fail(10, f"says {count} minutiae but 9.012 holds {len(rows)}")
        out = np.zeros(count, dtype=MINUTIA_DTYPE)
        scale = PPI / 2540.0  # 0.01 mm -> pixels
        for i, items in enumerate(rows):
            if len(items) < 4:
                rec.fail(
                    12,
                    f"minutia {i + 1}: {len(items)} items, expected index, XXXXYYYYTTT, "
                    "quality, type",
                )
            _index, xyt, quality, kind = items[:4]
            if not _XYT.fullmatch(xyt):
                rec.fail(12, f"minutia {i + 1}: {xyt!r} is not XXXXYYYYTTT")
            x, y, theta = int(xyt[:4]), int(xyt[4:8]), int(xyt[8:])
            if theta > 359:
                rec.fail(12, f"minutia {i + 1}: angle {theta} is not 0-359 degrees")
            if not _DIGITS.fullmatch(quality) or int(quality) > 63:
                rec.fail(12, f"minutia {i + 1}: quality {quality!r} is not 0-63")
            if kind not in LETTER_MINUTIA:
                rec.fail(12, f"minutia {i + 1}: type {kind!r} is not A, B, C or D")
            px, py = x * scale, height - y * scale
            if not (0 <= px <= width and 0 <= py <= height):
                rec.fail(
                    12,
                    f"minutia {i + 1}: ({x}, {y}) x 0.01 mm lies outside the "
                    f"{width}x{height} image",
                )
            out[i] = (
                px,
                py,
                math.radians((theta + 180) % 360),
                LETTER_MINUTIA[kind],
                ansi_to_iso_quality(np.array([int(quality)]))[0],
            )
        return Template(minutiae=out, width=width, height=height, dpi=PPI, finger=position)


__all__ = [
    "VERSION",
    "build_message",
    "decode_wsq",
    "encode_wsq",
    "wsq_frame_size",
    "read_transaction",
    "read_transaction_file",
    "write_transaction",
    "write_transaction_file",
]
