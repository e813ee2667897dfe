"""How a gallery stores its bit words on disk: cylinders and index codes, byte-sparse.

A cylinder's cells are mostly empty (about 6% of its 1,536 bits are set, and half of its 24
words are zero) and an index code sets about a thousand of its 32,768 bucket bits, so stored
word for word they cost 13.7 kB a template, 140 GB for 10,000,000 templates (issue 14).
Stored byte-sparse they cost a third of that, and each is decoded (a few microseconds a
template) only when a search compares it or transposes it into the screen.

An encoded block of ``k`` rows of ``w`` uint64 words is ``k * w`` *map* bytes, one a word, whose
bit ``b`` says that byte ``b`` of that word (little-endian) is not zero, followed by those
bytes in order. A template's cylinders are encoded as one block of rows ``bits | masks ^
DISC`` (:data:`~scomm.biometrics.matcher.DISC_WORDS`): the validity mask of a cylinder whose
whole disc is valid (half of them) is then all zeros and costs its map bytes only. Lossless:
a template decoded compares bit for bit as it did before it was encoded.
"""

from __future__ import annotations

import numba
import numpy as np

# Nothing of scomm but the CPU intrinsics is imported here: the matcher's kernels decode
# with these functions.
from scomm.biometrics.intrinsics import deposit as _deposit
from scomm.biometrics.intrinsics import load_u64 as _load_u64


@numba.njit(cache=True, nogil=True)
def encoded_size(words: np.ndarray) -> int:
    """Bytes that :func:`encode_into` writes for ``words`` (2-D, uint64)."""
    total = words.size
    flat = words.ravel()
    for i in range(flat.shape[0]):
        v = flat[i]
        while v != 0:
            total += (v & np.uint64(0xFF)) != 0
            v >>= np.uint64(8)
    return total


@numba.njit(cache=True, nogil=True)
def encode_into(words: np.ndarray, out: np.ndarray, pos: int) -> int:
    """Write ``words`` (2-D, uint64) encoded into ``out`` from ``pos``; returns the end."""
    flat = words.ravel()
    n = flat.shape[0]
    data = pos + n
    for i in range(n):
        v = flat[i]
        present = 0
        for b in range(8):
            byte = (v >> np.uint64(8 * b)) & np.uint64(0xFF)
            if byte != 0:
                present |= 1 << b
                out[data] = np.uint8(byte)
                data += 1
        out[pos + i] = np.uint8(present)
    return data


# For each map byte: the bytes of the word it stands for (0xFF where stored) and their number.
_SPREAD = np.array(
    [sum(0xFF << (8 * b) for b in range(8) if p >> b & 1) for p in range(256)], dtype=np.uint64
)
_STORED = np.array([bin(p).count("1") for p in range(256)], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def decode_into(encoded: np.ndarray, pos: int, out: np.ndarray) -> int:
    """Fill ``out`` (2-D, uint64, its shape that of the encoded rows) from the block at
    ``pos``; returns the block's end.

    Each word is the next eight stored bytes deposited into the bytes its map byte names
    (``pdep``), and the read moves on by as many as were stored: no branch, so the loop
    runs at a few cycles a word whatever the pattern of empty bytes."""
    flat = out.ravel()
    n = flat.shape[0]
    data = pos + n
    size = encoded.shape[0]
    for i in range(n):
        present = encoded[pos + i]
        if data + 8 <= size:
            word = _load_u64(encoded, data)
        else:  # the last bytes of the array: no eight to read
            word = np.uint64(0)
            for j in range(size - data):
                word |= np.uint64(encoded[data + j]) << np.uint64(8 * j)
        flat[i] = _deposit(word, _SPREAD[present])
        data += _STORED[present]
    return data


@numba.njit(cache=True, nogil=True)
def cylinder_rows(bits: np.ndarray, masks: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """The rows a template's cylinders are encoded as: ``bits | masks ^ disc``."""
    k, nb = bits.shape
    nm = masks.shape[1]
    rows = np.empty((k, nb + nm), dtype=np.uint64)
    for c in range(k):
        for w in range(nb):
            rows[c, w] = bits[c, w]
        for w in range(nm):
            rows[c, nb + w] = masks[c, w] ^ disc[w]
    return rows


@numba.njit(cache=True, nogil=True)
def decode_cylinders(
    encoded: np.ndarray,
    pos: int,
    k: int,
    disc: np.ndarray,
    rows: np.ndarray,
    bits: np.ndarray,
    masks: np.ndarray,
) -> int:
    """A template's ``k`` cylinders from the block at ``pos`` into ``bits[:k]`` and
    ``masks[:k]`` (``rows``: scratch of at least ``k`` rows); returns the block's end."""
    end = decode_into(encoded, pos, rows[:k])
    nb = bits.shape[1]
    for c in range(k):
        for w in range(nb):
            bits[c, w] = rows[c, w]
        for w in range(masks.shape[1]):
            masks[c, w] = rows[c, nb + w] ^ disc[w]
    return end


@numba.njit(cache=True, nogil=True)
def encode_blocks(words: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``starts[b]`` to ``starts[b + 1] - 1`` of ``words`` encoded as block ``b``, for
    every block: the blocks one after another, and where each begins (one more than the
    blocks: the last is the end)."""
    blocks = starts.shape[0] - 1
    at = np.zeros(blocks + 1, dtype=np.int64)
    for b in range(blocks):
        at[b + 1] = at[b] + encoded_size(words[starts[b] : starts[b + 1]])
    out = np.empty(at[blocks], dtype=np.uint8)
    for b in range(blocks):
        encode_into(words[starts[b] : starts[b + 1]], out, at[b])
    return out, at


def encode(words: np.ndarray) -> np.ndarray:
    """``words`` (2-D, uint64) encoded, in a new array."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    out = np.empty(encoded_size(words), dtype=np.uint8)
    encode_into(words, out, 0)
    return out


def decode(encoded: np.ndarray, rows: int, width: int) -> np.ndarray:
    """The ``rows`` x ``width`` words of an encoded block that starts ``encoded``."""
    out = np.empty((rows, width), dtype=np.uint64)
    decode_into(np.ascontiguousarray(encoded, dtype=np.uint8), 0, out)
    return out
