"""Fingerprint images in and out: TIFF, PNG and WSQ to a grey ``uint8`` array.

WSQ (the FBI's wavelet codec used in ANSI/NIST-ITL Type-4/14 records) comes from the ``wsq``
package, a Pillow plugin that registers itself on import. A file that cannot be decoded, is cut
short or is not a grey 2-D picture raises :class:`~scomm.errors.ImageError` naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from scomm.errors import ImageError
from scomm.files import write_atomic

_WSQ_MAGIC = b"\xff\xa0"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ensure_wsq() -> None:
    import wsq  # noqa: F401  (importing registers the WSQ codec with Pillow)


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


def read_image(source: str | Path | bytes, where: str | None = None) -> np.ndarray:
    """Read a TIFF, PNG or WSQ fingerprint image into a 2-D ``uint8`` array (0 = black).

    ``source`` is a path or the file's bytes; ``where`` names it in errors (default: the path).
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
        import tifffile

        try:
            array = tifffile.imread(io.BytesIO(data))
        except Exception as exc:  # tifffile raises many types for damaged files
            raise ImageError(where, f"corrupt or truncated TIFF: {exc}") from exc
        return _to_grey(np.asarray(array), where)
    if data.startswith(_WSQ_MAGIC):
        _ensure_wsq()
        kind = "WSQ"
    elif data.startswith(_PNG_MAGIC):
        kind = "PNG"
    else:
        kind = "image"
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in ("L", "I;16", "I", "F", "1", "RGB", "RGBA", "LA", "P"):
                raise ImageError(where, f"unsupported {kind} pixel mode {im.mode}")
            array = np.asarray(im.convert("L") if im.mode in ("P", "LA") else im)
    except ImageError:
        raise
    except Exception as exc:  # Pillow and the WSQ codec raise OSError, SyntaxError, ValueError
        raise ImageError(where, f"corrupt, truncated or unknown {kind} file: {exc}") from exc
    if array.size == 0:
        raise ImageError(where, f"{kind} file holds an empty image")
    return _to_grey(array, where)


def encode_wsq(image: np.ndarray, ratio: float = 0.75) -> bytes:
    """Compress a grey ``uint8`` image as WSQ and return the file's bytes.

    ``ratio`` is handed to the codec as its bit rate. Note: the ``wsq`` 0.9 codec we use applies
    its own fixed rate (about 0.75 bit per pixel, roughly 15:1 on FVC images) whatever value it
    is given; the argument is kept so a better codec can honour it.
    """
    _ensure_wsq()
    if image.ndim != 2:
        raise ImageError("<encode_wsq>", f"expected a 2-D grey image, got shape {image.shape}")
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L")
    buffer = io.BytesIO()
    # the plugin's own save() hard-codes its argument; call the encoder with ours
    tile = ImageFile._Tile("wsq", (0, 0, *im.size), 0, (float(ratio),))
    ImageFile._save(im, buffer, [tile])
    return buffer.getvalue()


def write_png(image: np.ndarray, path: str | Path) -> None:
    """Write a grey image as PNG, atomically (temp file then rename)."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L")
    write_atomic(Path(path), lambda tmp: picture.save(tmp, format="PNG"))
