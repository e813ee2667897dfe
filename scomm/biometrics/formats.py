"""Template files: scomm's own compact format, and ISO/IEC 19794-2:2005 finger minutiae records.

scomm template, version 2 (all integers big-endian)::

    offset size  field
    0      4     magic  b"SCMT"
    4      1     version (2)
    5      1     finger position (ANSI/NIST 0-10)
    6      2     image width, pixels
    8      2     image height, pixels
    10     2     resolution, pixels per inch
    12     2     number of minutiae N
    14     1     the template's quality 0-100, 255 where never assessed
    15     8*N   minutiae: x, y (uint16, 1/8 pixel), theta (uint16, 2*pi/65536 rad),
                 kind (uint8), quality (uint8)
    15+8N  4     CRC-32 of everything before it

Version 1 (no quality byte: the template's quality is None) is still read.

ISO/IEC 19794-2:2005 record (the "FMR" format a commercial extractor wrote beside each FVC2002
image)::

    header (24 bytes): "FMR\\0", version " 20\\0", record length (4), capture equipment
    (4 bits compliance + 12 bits id), image width (2), height (2), x and y resolution in
    pixels per centimetre (2 + 2), number of finger views (1), reserved (1)
    per view: finger position (1), view number (4 bits) + impression type (4 bits),
    finger quality (1), number of minutiae (1), then 6 bytes per minutia: type (2 bits:
    01 ending, 10 bifurcation, 00 other) + x (14 bits), reserved (2 bits) + y (14 bits),
    angle (1 byte, 1.40625-degree units counter-clockwise), quality (1 byte), then the
    extended data block length (2) and that many bytes of extended data.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from scomm.biometrics.template import BIFURCATION, MINUTIA_DTYPE, Template
from scomm.errors import TemplateError

MAGIC = b"SCMT"
VERSION = 2
_HEADER = struct.Struct(">4sBBHHHH")
_QUALITY = struct.Struct(">B")
_NOT_ASSESSED = 255
_XY_SCALE = 8.0
_THETA_SCALE = 65536.0 / (2 * np.pi)
_PACKED = np.dtype(
    [("x", ">u2"), ("y", ">u2"), ("theta", ">u2"), ("kind", "u1"), ("quality", "u1")]
)

ISO_MAGIC = b"FMR\x00"
ISO_VERSION = b" 20\x00"
_ISO_HEADER = struct.Struct(">4s4sIHHHHHBB")
_ISO_VIEW = struct.Struct(">BBBB")
_ISO_MINUTIA = np.dtype([("type_x", ">u2"), ("y", ">u2"), ("angle", "u1"), ("quality", "u1")])
ISO_ANGLE_UNIT = 2 * np.pi / 256  # 1.40625 degrees
_IMPRESSION_TYPES = {
    0: "live-scan plain",
    1: "live-scan rolled",
    2: "non-live-scan plain",
    3: "non-live-scan rolled",
    8: "swipe",
}


# --------------------------------------------------------------------------------------------
# scomm's own format


def to_bytes(t: Template) -> bytes:
    """Serialise a template in scomm's compact format (8 bytes per minutia)."""
    m = t.minutiae
    if len(m) > 0xFFFF:
        raise TemplateError("<template>", f"too many minutiae to store ({len(m)})")
    if len(m) and (m["x"].min() < 0 or m["y"].min() < 0 or max(m["x"].max(), m["y"].max()) >= 8192):
        raise TemplateError("<template>", "minutia coordinates outside 0..8191 pixels")
    packed = np.zeros(len(m), _PACKED)
    packed["x"] = np.rint(m["x"].astype(np.float64) * _XY_SCALE)
    packed["y"] = np.rint(m["y"].astype(np.float64) * _XY_SCALE)
    packed["theta"] = (
        np.rint(np.mod(m["theta"].astype(np.float64), 2 * np.pi) * _THETA_SCALE) % 65536
    )
    packed["kind"] = m["kind"]
    packed["quality"] = m["quality"]
    quality = _NOT_ASSESSED if t.quality is None else t.quality
    body = (
        _HEADER.pack(MAGIC, VERSION, t.finger, t.width, t.height, t.dpi, len(m))
        + _QUALITY.pack(quality)
        + packed.tobytes()
    )
    return body + struct.pack(">I", zlib.crc32(body))


def from_bytes(data: bytes, where: str = "<template>") -> Template:
    """Read a template written by :func:`to_bytes`; raise TemplateError if it is not one."""
    if len(data) < _HEADER.size + 4:
        raise TemplateError(
            where, f"truncated template ({len(data)} bytes, header needs {_HEADER.size + 4})"
        )
    magic, version, finger, width, height, dpi, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TemplateError(where, f"not a scomm template (magic {magic!r}, expected {MAGIC!r})")
    if version not in (1, VERSION):
        raise TemplateError(
            where, f"unsupported template version {version} (this scomm reads 1-{VERSION})"
        )
    start = _HEADER.size + (_QUALITY.size if version >= 2 else 0)
    expected = start + count * _PACKED.itemsize + 4
    if len(data) != expected:
        raise TemplateError(
            where,
            f"template length {len(data)} bytes, its header says {count} minutiae"
            f" ({expected} bytes)",
        )
    (crc,) = struct.unpack_from(">I", data, expected - 4)
    if crc != zlib.crc32(data[: expected - 4]):
        raise TemplateError(where, "template is corrupt (checksum mismatch)")
    quality: int | None = None
    if version >= 2:
        (stored,) = _QUALITY.unpack_from(data, _HEADER.size)
        if stored != _NOT_ASSESSED and stored > 100:
            raise TemplateError(where, f"template quality {stored} outside 0-100")
        quality = None if stored == _NOT_ASSESSED else stored
    packed = np.frombuffer(data, _PACKED, count, start)
    m = np.zeros(count, MINUTIA_DTYPE)
    m["x"] = packed["x"] / _XY_SCALE
    m["y"] = packed["y"] / _XY_SCALE
    m["theta"] = packed["theta"] / _THETA_SCALE
    m["kind"] = packed["kind"]
    m["quality"] = packed["quality"]
    return Template(m, width=width, height=height, dpi=dpi, finger=finger, quality=quality)


# --------------------------------------------------------------------------------------------
# ISO/IEC 19794-2:2005


def read_iso19794(data: bytes, where: str = "<ISO 19794-2 record>") -> list[Template]:
    """Read an ISO/IEC 19794-2:2005 finger minutiae record: one template per finger view."""
    if len(data) < _ISO_HEADER.size:
        raise TemplateError(
            where, f"truncated ISO 19794-2 record ({len(data)} bytes, header is 24)"
        )
    (magic, version, length, equipment, width, height, xres, yres, views, _reserved) = (
        _ISO_HEADER.unpack_from(data)
    )
    if magic != ISO_MAGIC:
        raise TemplateError(where, f"not an ISO 19794-2 record (format identifier {magic!r})")
    if version != ISO_VERSION:
        raise TemplateError(where, f"unsupported ISO 19794-2 version {version!r} (reads ' 20')")
    if length != len(data):
        raise TemplateError(where, f"record length field says {length} bytes, file has {len(data)}")
    if xres == 0 or yres == 0:
        raise TemplateError(where, "resolution of 0 pixels per centimetre")
    dpi = int(round(xres * 2.54))
    pos = _ISO_HEADER.size
    templates = []
    for view in range(views):
        here = f"{where} view {view + 1}"
        if pos + _ISO_VIEW.size > len(data):
            raise TemplateError(here, "record ends inside the finger view header")
        position, view_impression, finger_quality, count = _ISO_VIEW.unpack_from(data, pos)
        pos += _ISO_VIEW.size
        end = pos + count * _ISO_MINUTIA.itemsize
        if end + 2 > len(data):
            raise TemplateError(here, f"record ends inside its {count} minutiae")
        raw = np.frombuffer(data, _ISO_MINUTIA, count, pos)
        pos = end
        (ext_len,) = struct.unpack_from(">H", data, pos)
        pos += 2 + ext_len
        if pos > len(data):
            raise TemplateError(here, f"extended data of {ext_len} bytes runs past the record")
        m = np.zeros(count, MINUTIA_DTYPE)
        type_bits = raw["type_x"] >> 14
        if np.any(type_bits == 3):
            raise TemplateError(here, "minutia type 11 is reserved in ISO 19794-2")
        m["kind"] = type_bits  # ISO's codes are ours: 0 other, 1 ending, 2 bifurcation
        m["x"] = raw["type_x"] & 0x3FFF
        m["y"] = raw["y"] & 0x3FFF
        m["theta"] = raw["angle"] * ISO_ANGLE_UNIT
        m["quality"] = raw["quality"]
        impression = view_impression & 0x0F
        meta = {
            "format": "ISO/IEC 19794-2:2005",
            "view_number": str(view_impression >> 4),
            "impression_type": _IMPRESSION_TYPES.get(impression, str(impression)),
            "finger_quality": str(finger_quality),
            "capture_equipment": str(equipment & 0x0FFF),
        }
        templates.append(
            Template(
                m,
                width=width,
                height=height,
                dpi=dpi,
                finger=position,
                meta=meta,
                # ISO's finger quality, 1-100; 0 is what writers put when they assessed none
                quality=min(int(finger_quality), 100) or None,
            )
        )
    if pos != len(data):
        raise TemplateError(where, f"{len(data) - pos} unexplained bytes after the last view")
    return templates


def write_iso19794(templates: list[Template] | Template) -> bytes:
    """Write templates (views of fingers captured together) as one ISO 19794-2:2005 record.

    Coordinates are rounded to whole pixels and angles to 1.40625 degrees, the format's grid.
    """
    if isinstance(templates, Template):
        templates = [templates]
    if not templates:
        raise TemplateError("<ISO 19794-2 export>", "no finger views to write")
    if len(templates) > 255:
        raise TemplateError("<ISO 19794-2 export>", f"too many views ({len(templates)})")
    first = templates[0]
    res = int(round(first.dpi / 2.54))
    views = []
    seen: dict[int, int] = {}
    for t in templates:
        if len(t) > 255:
            raise TemplateError("<ISO 19794-2 export>", f"a view holds {len(t)} minutiae (max 255)")
        m = t.minutiae
        x = np.rint(m["x"]).astype(np.int64)
        y = np.rint(m["y"]).astype(np.int64)
        if len(m) and (x.min() < 0 or y.min() < 0 or max(x.max(), y.max()) > 0x3FFF):
            raise TemplateError("<ISO 19794-2 export>", "minutia coordinates outside 0..16383")
        out = np.zeros(len(m), _ISO_MINUTIA)
        if len(m) and m["kind"].max() > BIFURCATION:
            raise TemplateError(
                "<ISO 19794-2 export>", "minutia kind outside ending/bifurcation/other"
            )
        kind_bits = m["kind"].astype(np.int64)  # our codes are ISO's: 0 other, 1 ending, 2 bif.
        out["type_x"] = (kind_bits << 14) | x
        out["y"] = y
        out["angle"] = (
            np.rint(np.mod(m["theta"].astype(np.float64), 2 * np.pi) / ISO_ANGLE_UNIT) % 256
        )
        out["quality"] = m["quality"]
        view_number = seen.get(t.finger, 0)
        seen[t.finger] = view_number + 1
        header = _ISO_VIEW.pack(t.finger, (view_number & 0x0F) << 4, t.quality or 0, len(m))
        views.append(header + out.tobytes() + b"\x00\x00")
    body = b"".join(views)
    length = _ISO_HEADER.size + len(body)
    head = _ISO_HEADER.pack(
        ISO_MAGIC, ISO_VERSION, length, 0, first.width, first.height, res, res, len(templates), 0
    )
    return head + body
