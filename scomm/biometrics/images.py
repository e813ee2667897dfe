"""Fingerprint images in and out: TIFF, PNG and WSQ to a grey ``uint8`` array.

WSQ (the FBI's wavelet codec used in ANSI/NIST-ITL Type-4/14 records) goes through the one
codec the booking transactions use too (:mod:`scomm.biometrics.wsq_codec`). A file that cannot
be decoded, is cut short, declares a size beyond a fingerprint's or is not a grey 2-D picture
raises :class:`~scomm.errors.ImageError` naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from scomm.biometrics import wsq_codec
from scomm.biometrics.wsq_codec import check_declared_size, decode_wsq, wsq_frame_size
from scomm.errors import ImageError
from scomm.files import write_atomic

_WSQ_MAGIC = b"\xff\xa0"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _to_grey(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] in (3, 4):
        # colour scans happen; fold them to luminance rather than refuse them
        rgb = array[..., :3].astype(np.float32)
        array = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if array.ndim != 2:
        raise ImageError(where, f"expected a 2-D grey image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return np.where(array, 255, 0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.dtype.itemsize == 2:
        return (array.astype(np.uint32) >> 8).astype(np.uint8)
    a = array.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ImageError(where, "image holds non-finite values")
    lo, hi = float(a.min()), float(a.max())
    if hi <= 1.0 and lo >= 0.0:
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _refuse_declared(width: int, height: int, kind: str, where: str) -> None:
    too_big = check_declared_size(width, height)
    if too_big:
        raise ImageError(where, f"{kind} header: {too_big}; refused before decoding")


def _read_tiff(data: bytes, where: str) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            shape = tuple(int(n) for n in page.shape)
            # a 2-D page, or one with a few samples per pixel (colour, alpha) to fold to grey
            if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] > 4):
                raise ImageError(where, f"TIFF page of shape {shape} is not a grey picture")
            _refuse_declared(shape[1], shape[0], "TIFF", where)
            array = page.asarray()
    except ImageError:
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        raise ImageError(where, f"corrupt or truncated TIFF: {exc}") from exc
    return _to_grey(np.asarray(array), where)


def _read_wsq(data: bytes, where: str) -> np.ndarray:
    try:
        width, height = wsq_frame_size(data)
    except ValueError as exc:
        raise ImageError(where, f"corrupt, truncated or unknown WSQ file: {exc}") from None
    _refuse_declared(width, height, "WSQ", where)
    try:
        return decode_wsq(data)  # in the codec's worker process: a crash there is an error here
    except ValueError as exc:
        raise ImageError(where, f"corrupt, truncated or unknown WSQ file: {exc}") from None


def _read_png(data: bytes, where: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns past 89 M pixels; the size is checked below against a far lower limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=["PNG"])
        with im:
            _refuse_declared(im.size[0], im.size[1], "PNG", where)  # im.size is the header's
            im.load()
            if im.mode not in ("L", "I;16", "I", "F", "1", "RGB", "RGBA", "LA", "P"):
                raise ImageError(where, f"unsupported PNG pixel mode {im.mode}")
            array = np.asarray(im.convert("L") if im.mode in ("P", "LA") else im)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, past 179 M pixels
        raise ImageError(where, f"PNG header: {exc}; refused before decoding") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error
        raise ImageError(where, f"corrupt, truncated or unknown PNG file: {exc}") from exc
    if array.size == 0:
        raise ImageError(where, "PNG file holds an empty image")
    return _to_grey(array, where)


def read_image(source: str | Path | bytes, where: str | None = None) -> np.ndarray:
    """Read a TIFF, PNG or WSQ fingerprint image into a 2-D ``uint8`` array (0 = black).

    ``source`` is a path or the file's bytes; ``where`` names it in errors (default: the path).
    A header declaring an image larger than a fingerprint's
    (:data:`~scomm.biometrics.wsq_codec.MAX_IMAGE_SIDE`) is refused before decoding, and WSQ
    is decoded in the codec's worker process (:mod:`scomm.biometrics.wsq_codec`).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        where = where or "<image bytes>"
    else:
        path = Path(source)
        where = where or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(where, f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) < 8:
        raise ImageError(where, f"file is too short to be an image ({len(data)} bytes)")
    if data.startswith(_TIFF_MAGICS):
        return _read_tiff(data, where)
    if data.startswith(_WSQ_MAGIC):
        return _read_wsq(data, where)
    if data.startswith(_PNG_MAGIC):
        return _read_png(data, where)
    raise ImageError(where, "unknown image format: not a TIFF, PNG or WSQ file")


def encode_wsq(image: np.ndarray, ratio: float = 0.75) -> bytes:
    """Compress a grey ``uint8`` image as WSQ (see :func:`scomm.biometrics.wsq_codec.encode_wsq`)."""
    try:
        return wsq_codec.encode_wsq(image, ratio)
    except ValueError as exc:
        raise ImageError("<encode_wsq>", str(exc)) from None


def write_png(image: np.ndarray, path: str | Path) -> None:
    """Write a grey image as PNG, atomically (temp file then rename)."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L")
    write_atomic(Path(path), lambda tmp: picture.save(tmp, format="PNG"))
