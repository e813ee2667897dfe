"""The booking submission: what a Livescan sends to the State Identification Bureau and the FBI.

A :class:`BookingSubmission` is the content of one ANSI/NIST-ITL criminal ten-print transaction
(EBTS TOT "CAR"); :mod:`scomm.forms.nist` writes and reads it. The objects check their own
values on construction (``ValueError`` naming the attribute) so that a submission that exists
can always be written; the reader checks the same rules itself first, to name the record and
field of a bad file.

The field checks live here as ``problem_*`` functions returning a sentence (or ``None``) so that
the constructor and the reader share one rule and differ only in how they say where.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

from scomm.biometrics.template import MINUTIA_DTYPE, Template
from scomm.errors import InputError
from scomm.offenses import Grade, offense

Sex = Literal["M", "F", "X"]
SEX_CODES: tuple[Sex, ...] = get_args(Sex)
SEXES: frozenset[str] = frozenset(SEX_CODES)
GRADES: frozenset[str] = frozenset(get_args(Grade))

# ANSI/NIST finger positions of the ten fingers (Table "Friction ridge position code"):
# 1 right thumb ... 5 right little, 6 left thumb ... 10 left little.
FINGER_POSITIONS: tuple[int, ...] = tuple(range(1, 11))
FINGER_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1: "right thumb",
        2: "right index",
        3: "right middle",
        4: "right ring",
        5: "right little",
        6: "left thumb",
        7: "left index",
        8: "left middle",
        9: "left ring",
        10: "left little",
    }
)

# The resolution every image of a submission has: EBTS ten-print images are 500 ppi
# (19.69 pixels per millimetre, the 1.011 NSR / 1.012 NTR value).
PPI = 500

# The FBI CJIS IAFIS/NGI ORI that EBTS transactions are addressed to (1.007 DAI).
FBI_CJIS_ORI = "WVIAFIS0Z"

# Text fields: printable ASCII without the four ANSI/NIST separators (0x1C-0x1F).
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
_TCN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_NAME_PART = r"[A-Z](?:[A-Z' .-]*[A-Z.])?"
_NAME = re.compile(rf"{_NAME_PART},{_NAME_PART}")
_POB = re.compile(r"[A-Z]{2}")
_NCIC = re.compile(r"[0-9]{4}")

MAX_NAME = 50  # EBTS NAM: at most 50 characters
MAX_LITERAL = 300  # EBTS 2.047 AOL: at most 300 characters
MAX_CONTACT = 200


def problem_ori(value: str) -> str | None:
    if not isinstance(value, str) or not _ORI.fullmatch(value):
        return f"{value!r} is not a 9-character ORI (2 letters, then 7 letters or digits)"
    return None


def problem_tcn(value: str) -> str | None:
    if not isinstance(value, str) or not _TCN.fullmatch(value):
        return f"{value!r} is not a transaction control number (1-40 letters, digits, . _ -)"
    return None


def problem_name(value: str) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_NAME or not _NAME.fullmatch(value):
        return (
            f"{value!r} is not a name 'LAST,FIRST' (upper-case letters, space, hyphen, "
            f"apostrophe, period; one comma; at most {MAX_NAME} characters)"
        )
    return None


def problem_place_of_birth(value: str) -> str | None:
    if not isinstance(value, str) or not _POB.fullmatch(value):
        return f"{value!r} is not a 2-letter NCIC state or country code"
    return None


def problem_sex(value: str) -> str | None:
    if value not in SEXES:
        return f"{value!r} is not a sex code ({', '.join(sorted(SEXES))})"
    return None


def problem_text(value: str, limit: int) -> str | None:
    """Free text that can travel in an ANSI/NIST field: printable ASCII, no separators."""
    if not isinstance(value, str) or not _PRINTABLE.fullmatch(value):
        return f"{value!r} holds characters other than printable ASCII"
    if len(value) > limit:
        return f"{len(value)} characters, more than {limit}"
    return None


def problem_date_of_birth(born: dt.date, booked: dt.date) -> str | None:
    if born > booked:
        return f"{born.isoformat()} is after the booking date {booked.isoformat()}"
    return None


def problem_image(image: np.ndarray) -> str | None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
        what = f"{image.dtype} {image.ndim}-D" if isinstance(image, np.ndarray) else type(image)
        return f"image is {what}, not a 2-D uint8 grey image"
    rows, cols = image.shape
    # WSQ needs a few wavelet levels of image; 9999 keeps 14.006/14.007 in their usual width.
    if not (32 <= rows <= 9999 and 32 <= cols <= 9999):
        return f"image is {cols}x{rows} pixels, outside 32..9999 on a side"
    return None


@dataclass(frozen=True, init=False)
class Charge:
    """One arrest charge: an NCIC offense code, its grade and the literal sent in 2.047 ASL.

    ``grade`` defaults to the offense table's usual grade and ``description`` to the table's
    description, so that what is written is what is read back.
    """

    code: str
    grade: Grade
    description: str

    def __init__(self, code: str, grade: Grade | None = None, description: str = "") -> None:
        if not isinstance(code, str) or not _NCIC.fullmatch(code):
            raise ValueError(f"charge code {code!r} is not a 4-digit NCIC offense code")
        try:
            known = offense(code)
        except InputError as exc:
            raise ValueError(f"charge code {code!r}: {exc.problem}") from None
        if grade is None:
            grade = known.grade
        if grade not in GRADES:
            raise ValueError(f"charge {code}: grade {grade!r} is not one of {sorted(GRADES)}")
        if not description:
            description = known.description
        problem = problem_text(description, MAX_LITERAL)
        if problem:
            raise ValueError(f"charge {code}: description {problem}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "grade", grade)
        object.__setattr__(self, "description", description)


def _frozen_image(image: np.ndarray) -> np.ndarray:
    frozen = np.array(image, dtype=np.uint8, copy=True)
    frozen.flags.writeable = False
    return frozen


# A minutia's position must fit the 4-digit 0.01 mm coordinates of a Type-9 record.
MAX_COORD_MM = 99.99


@dataclass(frozen=True, eq=False)
class BookingSubmission:
    """One criminal ten-print submission (EBTS TOT "CAR") from a booking.

    Equality is identity (``eq=False``): the images are arrays, and comparing two submissions
    means comparing their fields one by one (WSQ is lossy, so images compare as "close").

    ``booked_at`` must be timezone-aware; it is kept in UTC to the second, the resolution of
    the 1.014 GMT field it is written to.
    """

    transaction_control_number: str
    ori: str
    booked_at: dt.datetime
    name: str
    date_of_birth: dt.date
    sex: Sex
    place_of_birth: str
    charges: tuple[Charge, ...]
    fingers: Mapping[int, np.ndarray]
    minutiae: Mapping[int, Template] = field(default_factory=dict)
    contact: str | None = None
    destination_ori: str = FBI_CJIS_ORI

    def __post_init__(self) -> None:
        for attr, check in (
            ("transaction_control_number", problem_tcn),
            ("ori", problem_ori),
            ("destination_ori", problem_ori),
            ("name", problem_name),
            ("place_of_birth", problem_place_of_birth),
            ("sex", problem_sex),
        ):
            problem = check(getattr(self, attr))
            if problem:
                raise ValueError(f"{attr}: {problem}")
        booked = self.booked_at
        if not isinstance(booked, dt.datetime) or booked.utcoffset() is None:
            raise ValueError(f"booked_at: {booked!r} is not a timezone-aware datetime")
        object.__setattr__(self, "booked_at", booked.astimezone(dt.UTC).replace(microsecond=0))
        born = self.date_of_birth
        if isinstance(born, dt.datetime) or not isinstance(born, dt.date):
            raise ValueError(f"date_of_birth: {born!r} is not a date")
        problem = problem_date_of_birth(born, self.booked_at.date())
        if problem:
            raise ValueError(f"date_of_birth: {problem}")
        charges = tuple(self.charges)
        if not charges:
            raise ValueError("charges: a booking has at least one arrest charge")
        for charge in charges:
            if not isinstance(charge, Charge):
                raise ValueError(f"charges: {charge!r} is not a Charge")
        object.__setattr__(self, "charges", charges)
        if self.contact is not None:
            problem = problem_text(self.contact, MAX_CONTACT)
            if problem or not self.contact.strip():
                raise ValueError(f"contact: {problem or 'empty'}")
        self._freeze_prints()

    def _freeze_prints(self) -> None:
        if not self.fingers:
            raise ValueError("fingers: a ten-print submission needs at least one finger image")
        fingers: dict[int, np.ndarray] = {}
        for position in sorted(self.fingers):
            if position not in FINGER_POSITIONS:
                raise ValueError(f"fingers: position {position!r} is not a finger 1-10")
            image = self.fingers[position]
            problem = problem_image(image)
            if problem:
                raise ValueError(f"fingers[{position}]: {problem}")
            fingers[position] = _frozen_image(image)
        minutiae: dict[int, Template] = {}
        for position in sorted(self.minutiae):
            template = self.minutiae[position]
            if position not in fingers:
                raise ValueError(f"minutiae[{position}]: no finger image at that position")
            problem = problem_template(template, position, fingers[position].shape)
            if problem:
                raise ValueError(f"minutiae[{position}]: {problem}")
            minutiae[position] = template
        object.__setattr__(self, "fingers", MappingProxyType(fingers))
        object.__setattr__(self, "minutiae", MappingProxyType(minutiae))


def problem_template(template: Template, position: int, shape: tuple[int, ...]) -> str | None:
    """Why a template cannot travel as the Type-9 record of the finger image of this shape."""
    if not isinstance(template, Template):
        return f"{type(template).__name__} is not a Template"
    if template.finger not in (0, position):
        return f"template is of finger {template.finger}, not {position}"
    if template.dpi != PPI:
        return f"template is at {template.dpi} dpi, the images at {PPI}"
    if (template.height, template.width) != tuple(shape):
        return (
            f"template is for a {template.width}x{template.height} image, "
            f"the finger image is {shape[1]}x{shape[0]}"
        )
    if len(template) > 999:
        return f"{len(template)} minutiae, more than the 999 a Type-9 record numbers"
    m = template.minutiae
    limit_px = MAX_COORD_MM / 25.4 * template.dpi
    if len(m) and (
        not np.all(np.isfinite(m["x"]))
        or not np.all(np.isfinite(m["y"]))
        or not np.all(np.isfinite(m["theta"]))
        or m["x"].min() < 0
        or m["y"].min() < 0
        or m["x"].max() > template.width
        or m["y"].max() > template.height
        or max(template.width, template.height) > limit_px
    ):
        return "a minutia lies outside the image (or the image is too large for 0.01 mm units)"
    if len(m) and int(m["quality"].max()) > 100:
        return "a minutia quality is above 100"
    return None


# --------------------------------------------------------------------------------------------
# Synthetic bookings for tests and demos


def ridge_image(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A ridge-like 500 ppi grey image: dark ridges about 9-11 pixels apart (a real ridge
    period at 500 ppi) flowing round a core, warped by smooth random waves, inside a
    finger-shaped ellipse on a white background. Not a fingerprint of anyone: test data.
    """
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cx = cols * rng.uniform(0.42, 0.58)
    cy = rows * rng.uniform(0.40, 0.55)
    period = rng.uniform(8.5, 11.0)
    stretch = rng.uniform(1.1, 1.5)
    radius = np.hypot(xx - cx, (yy - cy) / stretch)
    warp = np.zeros_like(radius)
    for _ in range(4):
        fx, fy = rng.uniform(-1, 1, size=2) * (2 * np.pi / max(rows, cols)) * rng.uniform(1, 3)
        warp += rng.uniform(0.6, 1.6) * np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * np.pi))
    ridges = 0.5 + 0.5 * np.cos(2 * np.pi * radius / period + warp)
    ex, ey = (xx - cols / 2) / (cols * 0.46), (yy - rows / 2) / (rows * 0.48)
    finger = np.clip((1.0 - np.hypot(ex, ey)) * 12.0, 0.0, 1.0)  # soft edge
    grey = 245.0 - finger * ridges * rng.uniform(150, 200) + rng.normal(0, 6, (rows, cols))
    return np.clip(grey, 0, 255).astype(np.uint8)


def random_template(
    rng: np.random.Generator, position: int, rows: int, cols: int, count: int
) -> Template:
    """A template with ``count`` minutiae at random places inside the print area: for tests
    of the Type-9 encoding, not extracted from the image."""
    m = np.zeros(count, dtype=MINUTIA_DTYPE)
    angle = rng.uniform(0, 2 * np.pi, count)
    radius = np.sqrt(rng.uniform(0, 1, count)) * 0.4
    m["x"] = cols / 2 + radius * np.cos(angle) * cols
    m["y"] = rows / 2 + radius * np.sin(angle) * rows
    m["theta"] = rng.uniform(0, 2 * np.pi, count)
    m["kind"] = rng.integers(0, 3, count)
    m["quality"] = rng.integers(0, 101, count)
    return Template(minutiae=m, width=cols, height=rows, dpi=PPI, finger=position)


_EXAMPLE_LAST = ("GARCIA", "SMITH", "NGUYEN", "HERNANDEZ", "O'BRIEN", "KIM", "PATEL")
_EXAMPLE_FIRST = ("MARIA", "JOSE", "ANA", "JAMES", "WEI", "FATIMA", "JEAN-LUC")
_EXAMPLE_POB = ("CA", "TX", "NY", "MM", "GT", "ES", "PH", "IN")
_EXAMPLE_CODES = ("0301", "1313", "2303", "3562", "5404", "5311", "2299", "3530")


def example_submission(
    seed: int,
    *,
    size: int = 320,
    fingers: tuple[int, ...] = FINGER_POSITIONS,
    with_minutiae: bool = False,
) -> BookingSubmission:
    """A synthetic, valid booking (all draws from ``seed``): for tests and demos.

    Images are :func:`ridge_image` at about ``size`` pixels a side (thumbs larger, as on a
    ten-print card); with ``with_minutiae`` each finger also gets a :func:`random_template`.
    """
    rng = np.random.default_rng(seed)
    booked_at = dt.datetime(2012, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        seconds=int(rng.integers(0, 3 * 365 * 86400))
    )
    born = booked_at.date() - dt.timedelta(days=int(rng.integers(18 * 365, 70 * 365)))
    picks = rng.choice(len(_EXAMPLE_CODES), size=int(rng.integers(1, 4)), replace=False)
    images: dict[int, np.ndarray] = {}
    templates: dict[int, Template] = {}
    for position in fingers:
        thumb = position in (1, 6)
        rows = size + (size // 8 if thumb else 0)
        cols = size - size // 8 + (size // 8 if thumb else 0)
        images[position] = ridge_image(rng, rows, cols)
        if with_minutiae:
            count = int(rng.integers(20, 60))
            templates[position] = random_template(rng, position, rows, cols, count)
    return BookingSubmission(
        transaction_control_number=f"SCOMM{seed:010d}",
        ori="CA0370000",
        booked_at=booked_at,
        name=f"{_EXAMPLE_LAST[rng.integers(len(_EXAMPLE_LAST))]},"
        f"{_EXAMPLE_FIRST[rng.integers(len(_EXAMPLE_FIRST))]}",
        date_of_birth=born,
        sex=SEX_CODES[int(rng.integers(3))],
        place_of_birth=_EXAMPLE_POB[int(rng.integers(len(_EXAMPLE_POB)))],
        charges=tuple(Charge(_EXAMPLE_CODES[int(i)]) for i in picks),
        fingers=images,
        minutiae=templates,
        contact=f"SISTER 619-555-{int(rng.integers(10000)):04d}" if rng.random() < 0.5 else None,
    )
