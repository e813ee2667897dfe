"""The one WSQ codec: every WSQ image scomm reads or writes goes through here.

WSQ (the FBI's wavelet codec of ANSI/NIST-ITL Type-4/14 records) comes from the ``wsq``
package, a Pillow plugin around NBIS-derived C code. Reading is for untrusted data (booking
files, images handed to ``scomm biometrics``), so:

- the frame header is read first (:func:`wsq_frame_size`) and a declared size beyond a
  fingerprint's (:data:`MAX_IMAGE_SIDE`) is refused before anything is decoded;
- decoding runs in a worker process (:class:`_WsqWorker`): the C code crashes the process on
  some damaged images, and there a crash is a corrupt image, not a dead pipeline.

Both :mod:`scomm.forms.nist` (booking transactions) and :mod:`scomm.biometrics.images` (image
files) use it.
"""

from __future__ import annotations

import atexit
import io
import os
import select
import struct
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image, ImageFile

# The largest image side read, in pixels. A Type-14 image at 500 ppi is at most a four-finger
# slap (3.2 x 3.0 inches, 1,600 x 1,500 pixels); 2,000 pixels is 4 inches. A header claiming
# more is refused before decoding: ten fingers claiming 9,999 x 9,999 took 135 s and 2 GB.
MAX_IMAGE_SIDE = 2000


def check_declared_size(width: int, height: int) -> str | None:
    """Why an image of ``width`` x ``height`` pixels is not read, or None if it may be."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        return (
            f"{width}x{height} pixels declared; a fingerprint image is 1 to "
            f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels (4 inches at 500 ppi)"
        )
    return None


def encode_wsq(image: np.ndarray, ratio: float = 0.75) -> bytes:
    """Compress a grey ``uint8`` image (500 ppi) as WSQ and return the file's bytes.

    ``ratio`` is handed to the codec as its bit rate. Note: the ``wsq`` 0.9 codec applies its
    own fixed rate (about 0.75 bit per pixel, roughly 15:1 on FVC images) whatever value it is
    given; the argument is kept so a better codec can honour it.
    """
    import wsq  # noqa: F401  (importing registers the WSQ codec with Pillow)

    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L")
    buffer = io.BytesIO()
    # the plugin's own save() hard-codes its argument; call the encoder with ours
    tile = ImageFile._Tile("wsq", (0, 0, *im.size), 0, (float(ratio),))
    ImageFile._save(im, buffer, [tile])
    return buffer.getvalue()


# WSQ segment markers (FBI WSQ specification, IAFIS-IC-0110): start/end of image, start of
# frame, start of block, transform table, quantization table, Huffman table, restart, comment.
_SOI, _EOI, _SOF, _SOB = 0xA0, 0xA1, 0xA2, 0xA3
_TABLE_MARKERS = frozenset({0xA4, 0xA5, 0xA6, 0xA7, 0xA8})


def wsq_frame_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a WSQ image's frame header, without decoding it.

    Read before decoding so that a header claiming a huge image, or one that disagrees with
    14.006/14.007, is refused without handing it to the codec.
    """
    if data[:2] != b"\xff\xa0":
        raise ValueError("no WSQ start-of-image marker (FFA0)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == _SOF:
            # FFA2, Lf (2), black (1), white (1), height (2), width (2), ...
            if pos + 10 > len(data) or length < 17:
                raise ValueError("frame header cut short")
            height = int.from_bytes(data[pos + 6 : pos + 8], "big")
            width = int.from_bytes(data[pos + 8 : pos + 10], "big")
            return width, height
        if marker not in _TABLE_MARKERS or length < 2:
            break
        pos += 2 + length
    raise ValueError(f"no frame header (FFA2) where expected (byte {pos})")


# The codec is C code (NBIS-derived) that crashes the process on some corrupt images (a
# damaged end marker or entropy-coded data makes it read past its buffer: found by fuzzing).
# A booking file is untrusted input, so images are decoded in a separate worker process: a
# crash there is a corrupt image, not a dead pipeline. The worker is started once and kept.
_WORKER_SOURCE = r"""
import io, struct, sys
import PIL.Image
import wsq  # registers the WSQ codec with Pillow

stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = stdin.read(4)
    if len(head) < 4:
        break
    (size,) = struct.unpack(">I", head)
    data = stdin.read(size)
    try:
        with PIL.Image.open(io.BytesIO(data), formats=["WSQ"]) as image:
            image.load()
            pixels = image.tobytes()
            reply = struct.pack(">BII", 0, image.size[0], image.size[1]) + pixels
    except Exception as exc:  # the codec raises bare Exception("WSQ Error: ...")
        reason = (" ".join(str(exc).split()) or type(exc).__name__).encode("utf-8", "replace")
        reply = struct.pack(">BII", 1, len(reason), 0) + reason
    stdout.write(reply)
    stdout.flush()
"""

DECODE_TIMEOUT_S = 30.0


class _WsqWorker:
    """One decoding process, restarted after a crash; calls are serialized by a lock."""

    def __init__(self, source: str = _WORKER_SOURCE) -> None:
        self._source = source  # the worker's program (tests give one that crashes)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)

    def forget(self) -> None:
        """Drop the worker without touching it (it belongs to the parent of a fork)."""
        self._lock = threading.Lock()
        self._process = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-c", self._source],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # the codec prints its own error lines there
                bufsize=0,  # unbuffered: select() on the pipe sees every byte not yet read
            )
        return self._process

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def decode(self, data: bytes) -> tuple[int, int, bytes]:
        with self._lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                _write_all(process.stdin.fileno(), struct.pack(">I", len(data)) + data)
                deadline = time.monotonic() + DECODE_TIMEOUT_S
                status, first, second = struct.unpack(">BII", self._read(9, deadline))
                if status == 0:
                    return first, second, self._read(first * second, deadline)
                raise ValueError(self._read(first, deadline).decode("utf-8", "replace"))
            except (BrokenPipeError, EOFError):
                self._kill()
                raise ValueError("the WSQ decoder crashed on it") from None
            except TimeoutError:
                self._kill()
                raise ValueError(f"the WSQ decoder ran over {DECODE_TIMEOUT_S:.0f} s") from None

    def _read(self, size: int, deadline: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        chunks: list[bytes] = []
        left = size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_worker = _WsqWorker()
# A forked child (multiprocessing) must not share its parent's worker pipes or lock: it starts
# its own worker when it first decodes.
os.register_at_fork(after_in_child=_worker.forget)


def decode_wsq(data: bytes) -> np.ndarray:
    """Decode a WSQ image to a 2-D uint8 array; ``ValueError`` saying why if it is corrupt.

    Safe on untrusted data: decoding runs in a worker process (see ``_WsqWorker``).
    """
    width, height = wsq_frame_size(data)
    too_big = check_declared_size(width, height)
    if too_big:
        raise ValueError(f"frame header says {width}x{height} pixels: {too_big}")
    got_width, got_height, pixels = _worker.decode(data)
    if (got_width, got_height) != (width, height) or len(pixels) != width * height:
        raise ValueError(f"decoded {got_width}x{got_height}, frame header says {width}x{height}")
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width).copy()
