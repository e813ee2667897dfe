"""Writing a file so that nothing half-written is ever left under its name: a temporary file
beside it, renamed over it once complete (a rename within a folder is atomic)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from scomm.errors import InputError

PRIVATE_FILE = 0o600  # personal data: names, dates of birth, rap sheets, status
PRIVATE_DIR = 0o700


def write_atomic(
    path: Path, write: Callable[[Path], object], *, durable: bool = False, private: bool = False
) -> None:
    """Have ``write`` fill a temporary file beside ``path``, then rename it to ``path``; if
    ``write`` fails the temporary file is removed and ``path`` is left as it was.

    The temporary file ends in ``path``'s suffix (writers that pick a format by extension
    see the right one) and gets the permissions a plain new file would, or, ``private``
    (personal data), its owner's only. ``durable``: the data reaches the disk (fsync) before
    the rename, so a power cut leaves the old file or the new one, never an empty one. A
    target that is a folder, or in a folder that cannot be written, is refused by name before
    anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), "is a directory: give the name of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a default under out/ needs no mkdir first
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise InputError(str(path), f"cannot be written ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        # mkstemp makes 0600: right for personal data, too strict for the rest.
        os.chmod(tmp, PRIVATE_FILE if private else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(
    path: Path, data: bytes, *, durable: bool = False, private: bool = False
) -> None:
    write_atomic(path, lambda tmp: tmp.write_bytes(data), durable=durable, private=private)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
