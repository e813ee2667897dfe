"""What each fuzz case is handed to: the entry point a user's file reaches, then a check that
nothing was left half-written. One table, :data:`TARGETS`, says per input kind everything the
corpus tests, the hypothesis runner and atheris need (the file's suffix, the entry point, what
an accept leaves in the output folder, the modules to instrument): adding a kind is one row.

- ``policy``: ``scomm policy check FILE`` (the Typer command, in process); exit 2 naming the
  file is a clean refusal, exit 0 an accept.
- ``transaction``: :func:`scomm.forms.nist.read_transaction_file`; an accepted booking is
  written back with :func:`~scomm.forms.nist.write_transaction_file` (as ``scomm world
  export-booking`` does) and must read back.
- ``wsq``, ``png``, ``tiff``: :func:`scomm.biometrics.images.read_image`; an accepted image is
  written with :func:`~scomm.biometrics.images.write_png` and must read back the same.

A refusal must be the project's :class:`~scomm.errors.InputError` naming the file; after a
refusal the case's output folder must be empty, after an accept it must hold exactly the one
complete file (no temporary files left beside it).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


@cache
def _policy_command() -> Any:
    import typer.main

    from scomm.cli import app

    return typer.main.get_command(app)


def warm_up() -> None:
    """Import and load what the targets need once, so a case's time limit is its own."""
    from scomm.biometrics.images import read_image  # noqa: F401
    from scomm.forms.nist import read_transaction_file  # noqa: F401
    from scomm.policies.cli import _known_fips

    _policy_command()
    _known_fips()


def _policy(path: Path, out: Path) -> tuple[str, str]:
    from click.testing import CliRunner

    result = CliRunner().invoke(_policy_command(), ["policy", "check", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    text = " ".join(result.output.split())
    if result.exit_code == 0 and f"ok {path}:" in text:
        return "accepted", text[:200]
    refused = re.search(rf"refused {re.escape(str(path))}(:\d+)?: (.+?) (FIPS codes|$)", text)
    if result.exit_code == 2 and refused:
        return "clean_refusal", refused.group(2)[:300]
    return "unclear_refusal", f"exit {result.exit_code}: {text[:300]}"


def _transaction(path: Path, out: Path) -> tuple[str, str]:
    from scomm.errors import InputError
    from scomm.forms.nist import read_transaction_file, write_transaction_file

    try:
        sub = read_transaction_file(path)
    except InputError as exc:
        return _refusal(exc, path)
    back = out / "back.an2"
    write_transaction_file(sub, back)
    again = read_transaction_file(back)
    if again.transaction_control_number != sub.transaction_control_number:
        return "half_write", "the booking written back does not read back the same"
    return "accepted", f"booking {sub.transaction_control_number}, {len(sub.fingers)} finger(s)"


def _image(path: Path, out: Path) -> tuple[str, str]:
    from scomm.biometrics.images import read_image, write_png
    from scomm.errors import InputError

    try:
        image = read_image(path)
    except InputError as exc:
        return _refusal(exc, path)
    written = out / "print.png"
    write_png(image, written)
    if not np.array_equal(read_image(written), image):
        return "half_write", "the PNG written does not read back the same"
    return "accepted", f"{image.shape[1]}x{image.shape[0]} pixels"


def _refusal(exc: Exception, path: Path) -> tuple[str, str]:
    message = str(exc)
    if message.startswith(str(path)):
        return "clean_refusal", message[len(str(path)) :].lstrip(":0123456789 ")[:300]
    return "unclear_refusal", f"the message does not name the file: {message[:300]}"


@dataclass(frozen=True)
class Target:
    """One input kind: the file a case is written to, what it is handed to, and what a clean
    accept leaves behind."""

    kind: str
    suffix: str  # of the input file: the readers dispatch on it
    entry: Callable[[Path, Path], tuple[str, str]]  # (input, output folder) -> (result, message)
    written: frozenset[str]  # the output folder's files after an accept
    # Imported under atheris.instrument_imports(): coverage is seen only in modules first
    # imported there (the entry points import lazily).
    modules: tuple[str, ...]


_IMAGE_MODULES = ("PIL.PngImagePlugin", "tifffile", "scomm.biometrics.images")
TARGETS: dict[str, Target] = {
    t.kind: t
    for t in (
        Target("transaction", ".an2", _transaction, frozenset({"back.an2"}), ("scomm.forms.nist",)),
        Target("wsq", ".wsq", _image, frozenset({"print.png"}), _IMAGE_MODULES),
        Target("png", ".png", _image, frozenset({"print.png"}), _IMAGE_MODULES),
        Target("tiff", ".tif", _image, frozenset({"print.png"}), _IMAGE_MODULES),
        Target(
            "policy",
            ".yaml",
            _policy,
            frozenset(),
            ("yaml", "scomm.policies.cli", "scomm.policies.load"),
        ),
    )
}
KINDS = tuple(TARGETS)


def check_outputs(kind: str, result: str, out: Path) -> tuple[str, str] | None:
    """A half-write found in ``out`` after ``result``, or None."""
    left = sorted(p.name for p in out.iterdir())
    if result == "accepted":
        if set(left) != TARGETS[kind].written:
            return "half_write", f"after an accept the output folder holds {left}"
    elif left:
        return "half_write", f"after a refusal the output folder holds {left}"
    return None


def run_target(kind: str, name: str, data: bytes, workdir: Path) -> tuple[str, str]:
    """Hand one case to its target in a fresh folder; (result, message)."""
    target = TARGETS[kind]
    folder = workdir / name
    out = folder / "out"
    out.mkdir(parents=True)
    path = folder / f"input{target.suffix}"
    path.write_bytes(data)
    try:
        result, message = target.entry(path, out)
        return check_outputs(kind, result, out) or (result, message)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
