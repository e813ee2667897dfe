"""Seed documents and mutations for the fuzz corpora: everything drawn from a seed.

A seed document is a valid input of its kind made at run time (a synthetic ten-print
transaction, a ridge image as WSQ, PNG or TIFF, a packaged policy file); a mutation turns it
into the hostile input a careless operator or an attacker could hand to scomm. Each mutation
returns the new bytes and a short description (so a failing case can be read and rebuilt).
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from collections.abc import Callable
from functools import cache
from importlib import resources

import numpy as np

Mutation = Callable[[random.Random, bytes], tuple[bytes, str]]

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x1C, 0x1D, 0x1E, 0x1F, 0x30, 0x39, 0x0A)
INTERESTING_TEXT = (
    "",
    "0",
    "-1",
    "9999",
    "99999999999999999999",
    "1e400",
    "nan",
    "A" * 400,
    "\u00e9",
    "\x1e",
    " ",
    "2013-02-30",
    "20131301",
)


# --------------------------------------------------------------------------------------------
# Byte-level mutations (every kind)


def bit_flips(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    spots = sorted(rng.randrange(len(out)) for _ in range(rng.randint(1, 8)))
    for spot in spots:
        out[spot] ^= 1 << rng.randrange(8)
    return bytes(out), f"bit flips at {spots}"


def truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    keep = rng.randrange(len(data))
    return data[:keep], f"truncated to {keep} of {len(data)} bytes"


def insert_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data) + 1)
    size = rng.choice((1, 2, 4, 16, 256))
    blob = bytes(rng.choice(INTERESTING_BYTES + (rng.randrange(256),)) for _ in range(size))
    return data[:at] + blob + data[at:], f"{size} bytes inserted at {at}"


def delete_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data))
    size = rng.choice((1, 2, 4, 16, 256))
    return data[:at] + data[at + size :], f"{size} bytes deleted at {at}"


def duplicate_range(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data))
    size = rng.choice((4, 64, 1024))
    piece = data[at : at + size]
    return data[:at] + piece * rng.randint(2, 8) + data[
        at + size :
    ], f"{size} bytes repeated at {at}"


def interesting_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    spots = [rng.randrange(len(out)) for _ in range(rng.randint(1, 4))]
    for spot in spots:
        out[spot] = rng.choice(INTERESTING_BYTES)
    return bytes(out), f"interesting bytes at {sorted(spots)}"


BYTE_MUTATIONS: tuple[Mutation, ...] = (
    bit_flips,
    truncate,
    insert_bytes,
    delete_bytes,
    duplicate_range,
    interesting_bytes,
)


# --------------------------------------------------------------------------------------------
# Seed documents


def ridge(rng: random.Random, low: int = 48, high: int = 128) -> np.ndarray:
    from scomm.forms.booking import ridge_image

    rows, cols = rng.randint(low, high), rng.randint(low, high)
    return ridge_image(np.random.default_rng(rng.randrange(2**32)), rows, cols)


def seed_transaction(rng: random.Random) -> bytes:
    from scomm.forms.booking import example_submission
    from scomm.forms.nist import write_transaction

    fingers = tuple(sorted(rng.sample(range(1, 11), rng.randint(1, 3))))
    sub = example_submission(rng.randrange(10**6), size=96, fingers=fingers, with_minutiae=True)
    return write_transaction(sub)


def seed_wsq(rng: random.Random) -> bytes:
    from scomm.biometrics.wsq_codec import encode_wsq

    return encode_wsq(ridge(rng))


def seed_png(rng: random.Random) -> bytes:
    from PIL import Image

    image = ridge(rng)
    mode = rng.choice(("L", "L", "RGB", "I;16", "P"))
    picture = Image.fromarray(image)
    if mode == "I;16":
        picture = Image.fromarray(image.astype(np.uint16) * 257)
    elif mode != "L":
        picture = picture.convert(mode)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def seed_tiff(rng: random.Random) -> bytes:
    import tifffile

    image = ridge(rng)
    buffer = io.BytesIO()
    compression = rng.choice((None, None, "zlib"))  # others need imagecodecs
    tile = (16, 16) if rng.random() < 0.25 else None
    tifffile.imwrite(buffer, image, compression=compression, tile=tile)
    return buffer.getvalue()


@cache
def _policy_texts() -> tuple[bytes, ...]:
    root = resources.files("scomm.policies")
    files = [root.joinpath("federal/regimes.yaml")]
    files += sorted(root.joinpath("jurisdictions").iterdir(), key=lambda entry: entry.name)
    return tuple(f.read_bytes() for f in files if f.name.endswith(".yaml"))


def seed_policy(rng: random.Random) -> bytes:
    return rng.choice(_policy_texts())


# --------------------------------------------------------------------------------------------
# Structured mutations: ANSI/NIST-ITL transactions

_FIELD = re.compile(rb"(\d{1,2})\.(\d{3}):")
_SEPARATORS = b"\x1c\x1d\x1e\x1f"


def field_value(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """A tagged field's value replaced with an interesting one (lengths and counts too)."""
    fields = [m for m in _FIELD.finditer(data) if m.start() == 0 or data[m.start() - 1] in b"\x1d"]
    fields = [m for m in fields if m.group(2) != b"999"] or fields
    if not fields:
        return bit_flips(rng, data)
    match = rng.choice(fields)
    start = match.end()
    end = start
    while end < len(data) and data[end] not in b"\x1c\x1d":
        end += 1
    value = rng.choice(INTERESTING_TEXT + (str(rng.randrange(10**6)),)).encode("utf-8")
    tag = match.group().decode("ascii", "replace")
    return data[:start] + value + data[end:], f"field {tag} set to {value[:20]!r}"


def swap_field_values(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Two fields' values exchanged (a date where a count belongs, a name in a length)."""
    spans = []
    for match in _FIELD.finditer(data):
        end = match.end()
        while end < len(data) and data[end] not in b"\x1c\x1d":
            end += 1
        if match.group(2) != b"999":
            spans.append((match.end(), end, match.group().decode("ascii", "replace")))
    if len(spans) < 2:
        return bit_flips(rng, data)
    (a0, a1, atag), (b0, b1, btag) = sorted(rng.sample(spans, 2))
    if a1 > b0:
        return bit_flips(rng, data)
    swapped = data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]
    return swapped, f"values of {atag} and {btag} swapped"


def wrong_separator(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    spots = [i for i, byte in enumerate(data[:4096]) if byte in _SEPARATORS]
    if not spots:
        return bit_flips(rng, data)
    at = rng.choice(spots)
    new = rng.choice([s for s in _SEPARATORS if s != data[at]] + [0x3A, 0x2E])
    return data[:at] + bytes([new]) + data[at + 1 :], f"separator at {at} -> 0x{new:02x}"


def huge_declared_size(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """A Type-14 record's 14.006 HLL / 14.007 VLL, or its WSQ frame header, made huge."""
    if rng.random() < 0.5:
        sof = data.find(b"\xff\xa2")
        if sof >= 0 and sof + 10 <= len(data):
            w, h = rng.choice(((9999, 9999), (65535, 1), (0, 64), (2001, 2001)))
            return (
                data[: sof + 6] + struct.pack(">HH", h, w) + data[sof + 10 :],
                f"WSQ frame header at {sof} says {w}x{h}",
            )
    tag = rng.choice((b"14.006:", b"14.007:"))
    at = data.find(b"\x1d" + tag)
    if at < 0:
        return bit_flips(rng, data)
    start = at + 1 + len(tag)
    end = data.index(b"\x1d", start)
    value = rng.choice((b"9999", b"50000", b"0", b"2001"))
    return data[:start] + value + data[end:], f"{tag.decode()} set to {value.decode()}"


TRANSACTION_MUTATIONS: tuple[Mutation, ...] = (
    field_value,
    field_value,
    swap_field_values,
    wrong_separator,
    huge_declared_size,
)


# --------------------------------------------------------------------------------------------
# Structured mutations: images


def wsq_header(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    sof = data.find(b"\xff\xa2")
    if sof < 0 or sof + 10 > len(data):
        return bit_flips(rng, data)
    w, h = rng.choice(((9999, 9999), (65535, 65535), (0, 0), (2000, 2000), (2001, 64), (1, 1)))
    return data[: sof + 6] + struct.pack(">HH", h, w) + data[sof + 10 :], f"WSQ frame {w}x{h}"


def wsq_marker(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    markers = [i for i in range(len(data) - 1) if data[i] == 0xFF and 0xA0 <= data[i + 1] <= 0xA8]
    at = rng.choice(markers)
    new = bytearray(data)
    if rng.random() < 0.5 and at + 4 <= len(data):
        length = rng.choice((0, 1, 2, 0xFFFF))
        new[at + 2 : at + 4] = struct.pack(">H", length)
        return bytes(new), f"segment length at {at} -> {length}"
    new[at + 1] = rng.choice((0xA0, 0xA1, 0xA3, 0xA9, 0x00))
    return bytes(new), f"marker at {at} -> FF{new[at + 1]:02X}"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """IHDR rewritten with a valid CRC: huge or odd sizes, depths and colour types."""
    body = bytearray(data[16:29])
    w, h = rng.choice(((12_000, 12_000), (2001, 10), (0, 10), (2000, 2000), (2**31 - 1, 1)))
    body[0:8] = struct.pack(">II", w, h)
    if rng.random() < 0.3:
        body[8] = rng.choice((1, 2, 4, 8, 16, 7))
        body[9] = rng.choice((0, 2, 3, 4, 6, 5))
    return data[:8] + _png_chunk(b"IHDR", bytes(body)) + data[
        33:
    ], f"IHDR {w}x{h} {bytes(body[8:10]).hex()}"


def png_bomb(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """A real decompression bomb: a few KB of zlib that inflates to ``w * h`` bytes."""
    w = h = rng.choice((2000, 2500, 4000))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    squeeze = zlib.compressobj(9)
    row = bytes(w + 1)
    rows = b"".join(squeeze.compress(row) for _ in range(h)) + squeeze.flush()
    bomb = data[:8] + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)
    return bomb + _png_chunk(b"IEND", b""), f"PNG bomb {w}x{h} in {len(rows)} bytes of IDAT"


def tiff_tag(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One of the first IFD's entries given an odd value (sizes, samples, offsets, counts)."""
    if data[:2] != b"II" or len(data) < 8:
        return bit_flips(rng, data)
    ifd = struct.unpack_from("<I", data, 4)[0]
    if ifd + 2 > len(data):
        return bit_flips(rng, data)
    count = struct.unpack_from("<H", data, ifd)[0]
    entries = [ifd + 2 + 12 * i for i in range(count) if ifd + 14 + 12 * i <= len(data)]
    if not entries:
        return bit_flips(rng, data)
    at = rng.choice(entries)
    tag = struct.unpack_from("<H", data, at)[0]
    value = rng.choice((0, 1, 3, 2001, 30_000, 65535, 2**31, 2**32 - 1))
    new = bytearray(data)
    if rng.random() < 0.3:
        struct.pack_into("<I", new, at + 4, value)  # the count
        return bytes(new), f"TIFF tag {tag} count -> {value}"
    struct.pack_into("<I", new, at + 8, value)
    return bytes(new), f"TIFF tag {tag} value -> {value}"


def tiff_ifd_loop(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if data[:2] != b"II" or len(data) < 8:
        return bit_flips(rng, data)
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0] if ifd + 2 <= len(data) else 0
    nxt = ifd + 2 + 12 * count
    if nxt + 4 > len(data):
        return bit_flips(rng, data)
    new = bytearray(data)
    struct.pack_into("<I", new, nxt, rng.choice((ifd, 8, len(data) + 100)))
    return bytes(new), "TIFF next-IFD offset points back or past the end"


IMAGE_MUTATIONS: dict[str, tuple[Mutation, ...]] = {
    "wsq": (wsq_header, wsq_marker, wsq_marker),
    "png": (png_header, png_header, png_bomb),
    "tiff": (tiff_tag, tiff_tag, tiff_ifd_loop),
}


# --------------------------------------------------------------------------------------------
# Structured mutations: policy YAML (the attack list of issue 12, and careless edits)


def _laughs(levels: int) -> str:
    text = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return text


def _attack(rng: random.Random) -> tuple[str, str]:
    """A line (or block) of hostile YAML and its name."""
    attacks = (
        ("impossible date", f"  from: 2013-02-{rng.choice((29, 30, 31))}"),
        ("month 13", "  to: 2013-13-01"),
        ("int tag on text", "  max_hold_hours: !!int abc"),
        ("float tag on text", "  max_hold_hours: !!float twelve"),
        ("unknown tag", "  honor: !local all"),
        ("python tag", 'x: !!python/object/apply:os.system ["true"]'),
        ("set tag", "x: !!set {a, b}"),
        ("binary tag", "x: !!binary AAAA"),
        ("merge key", "base: &b {honor: all}\nx:\n  <<: *b"),
        ("list key", "? [a, b]\n: 1"),
        ("mapping key", "{a: 1}: 2"),
        ("control character", f"name: bad{chr(rng.choice((0, 7, 8, 27, 127, 0x85)))}name"),
        ("deep nesting", "x: " + "[" * rng.choice((40, 200, 3000)) + "]" * 3),
        ("billion laughs", _laughs(rng.choice((3, 5, 9)))),
        ("self alias", "x: &s [1, *s]"),
        ("duplicate key", "fips: '06037'"),
        ("huge number", "x: " + "9" * rng.choice((100, 5000))),
        ("tab indent", "x:\n\t- 1"),
        ("second document", "---\nfips: US"),
    )
    name, text = rng.choice(attacks)
    return text, name


def policy_attack(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    text, name = _attack(rng)
    at = rng.randrange(len(lines) + 1)
    lines[at:at] = text.split("\n")
    return "\n".join(lines).encode("utf-8", "surrogateescape"), f"{name} at line {at + 1}"


def policy_encoding(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    text = data.decode("utf-8", "surrogateescape").replace("name: ", "name: Pe\u00f1a ", 1)
    codec = rng.choice(("latin-1", "utf-16", "utf-16-le", "utf-32", "cp1252"))
    return text.encode(codec, "replace"), f"re-encoded as {codec}"


def policy_edit(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """A careless edit: a line deleted, doubled, moved, re-indented or given another value."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    at = rng.randrange(len(lines))
    action = rng.choice(("delete", "double", "move", "indent", "value"))
    if action == "delete":
        del lines[at]
    elif action == "double":
        lines.insert(at, lines[at])
    elif action == "move":
        lines.insert(rng.randrange(len(lines)), lines.pop(at))
    elif action == "indent":
        lines[at] = " " * rng.choice((1, 3, 7)) + lines[at]
    else:
        key, sep, _ = lines[at].partition(":")
        lines[at] = f"{key}{sep or ':'} {rng.choice(INTERESTING_TEXT)}"
    return "\n".join(lines).encode("utf-8", "surrogateescape"), f"{action} line {at + 1}"


POLICY_MUTATIONS: tuple[Mutation, ...] = (
    policy_attack,
    policy_attack,
    policy_attack,
    policy_encoding,
    policy_edit,
    policy_edit,
)

SEEDS: dict[str, Callable[[random.Random], bytes]] = {
    "transaction": seed_transaction,
    "wsq": seed_wsq,
    "png": seed_png,
    "tiff": seed_tiff,
    "policy": seed_policy,
}
STRUCTURED: dict[str, tuple[Mutation, ...]] = {
    "transaction": TRANSACTION_MUTATIONS,
    "policy": POLICY_MUTATIONS,
    **IMAGE_MUTATIONS,
}


def mutate(kind: str, rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One to three mutations of ``data``, structured ones about half the time."""
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        pool = STRUCTURED[kind] if rng.random() < 0.55 else BYTE_MUTATIONS
        data, step = rng.choice(pool)(rng, data)
        steps.append(step)
    return data, "; ".join(steps) or "unchanged"
