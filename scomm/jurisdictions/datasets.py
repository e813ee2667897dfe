"""The public datasets scomm reads, where each comes from, and their checksums.

The data are never copied into the repository: they sit in the data directory
(:func:`scomm.settings.data_dir`, ``SCOMM_DATA_DIR``). This module knows, for each dataset of
``shared/data/README.md``, its public origin, the files it is made of (path relative to the data
directory) and each file's SHA-256, so that ``scomm data check`` can tell a user what is there
and ``scomm data fetch`` can get it again, verified, from the origin or from a mirror laid out
like the data directory.

The per-file checksums live in ``datasets.json`` beside this module (640 of the files are
FVC2002 images and templates; a table in code would drown the rest).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path

from scomm.errors import DataError
from scomm.files import write_atomic
from scomm.settings import data_dir as default_data_dir

MANIFEST = "datasets.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: where it goes under the data directory, and what it must hash to."""

    path: str  # relative to the data directory, with forward slashes
    sha256: str
    size: int
    url: str | None  # a direct download at the origin; None where the origin is a page or archive


@dataclass(frozen=True)
class Dataset:
    """A public dataset: what it is, where it comes from publicly, and its files."""

    key: str
    title: str
    origin: str  # who publishes it
    origin_url: str  # the page (or file) a user with internet access gets it from
    license: str
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class FileState(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    CORRUPT = "checksum mismatch"


@dataclass(frozen=True)
class DatasetStatus:
    dataset: Dataset
    valid: int
    missing: tuple[str, ...]
    corrupt: tuple[str, ...]

    @property
    def state(self) -> str:
        if not self.missing and not self.corrupt:
            return "valid"
        if self.valid == 0 and not self.corrupt:
            return "missing"
        return "incomplete" if not self.corrupt else "invalid"


@cache
def datasets() -> tuple[Dataset, ...]:
    """Every registered dataset, in the order of the data README."""
    text = resources.files(__package__).joinpath(MANIFEST).read_text()
    raw = json.loads(text)
    out = []
    for entry in raw["datasets"]:
        out.append(
            Dataset(
                key=entry["key"],
                title=entry["title"],
                origin=entry["origin"],
                origin_url=entry["origin_url"],
                license=entry["license"],
                files=tuple(
                    DataFile(path=f["path"], sha256=f["sha256"], size=f["size"], url=f.get("url"))
                    for f in entry["files"]
                ),
            )
        )
    return tuple(out)


def dataset(key: str) -> Dataset:
    for d in datasets():
        if d.key == key:
            return d
    raise DataError(
        "datasets", f"no dataset {key!r}; known: {', '.join(d.key for d in datasets())}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_state(root: Path, item: DataFile) -> FileState:
    path = root / item.path
    if not path.is_file():
        return FileState.MISSING
    # Size first: a truncated download is caught without hashing 25 MB.
    if path.stat().st_size != item.size or sha256_of(path) != item.sha256:
        return FileState.CORRUPT
    return FileState.VALID


def check(root: Path | None = None) -> list[DatasetStatus]:
    """The state of every registered dataset in the data directory."""
    root = root or default_data_dir()
    out = []
    for d in datasets():
        missing: list[str] = []
        corrupt: list[str] = []
        valid = 0
        for item in d.files:
            state = file_state(root, item)
            if state is FileState.VALID:
                valid += 1
            elif state is FileState.MISSING:
                missing.append(item.path)
            else:
                corrupt.append(item.path)
        out.append(DatasetStatus(d, valid, tuple(missing), tuple(corrupt)))
    return out


def require(path: str, root: Path | None = None) -> Path:
    """The absolute path of a registered data file, or a DataError naming where to get it."""
    root = root or default_data_dir()
    full = root / path
    if full.is_file():
        return full
    owner = next((d for d in datasets() for f in d.files if f.path == path), None)
    origin = f"; it comes from {owner.origin} ({owner.origin_url})" if owner else ""
    raise DataError(
        str(full),
        f"missing (data directory {root}; set SCOMM_DATA_DIR or run 'scomm data fetch'){origin}",
    )


# ---------------------------------------------------------------------------------------------
# Fetching


@dataclass(frozen=True)
class FetchResult:
    dataset: str
    path: str
    outcome: str  # "fetched", "already valid", "no direct download: ...", "failed: ..."


def _download(url: str, target: Path, item: DataFile, timeout: float) -> None:
    """Download ``url`` to ``target`` through a temporary file, renamed only once verified."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def fetch(tmp: Path) -> None:
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if digest.hexdigest() != item.sha256:
            raise DataError(
                url,
                f"checksum mismatch: got sha256 {digest.hexdigest()} ({size} bytes), "
                f"expected {item.sha256} ({item.size} bytes); not written",
            )

    write_atomic(target, fetch)


def fetch(
    root: Path | None = None,
    base_url: str | None = None,
    keys: Iterable[str] | None = None,
    timeout: float = 60.0,
    progress: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Get every missing or corrupt file, verify its checksum, write it atomically.

    With ``base_url`` each file is read from ``base_url/<path>`` (a mirror laid out like the data
    directory); without it, from the file's direct origin URL, where the origin has one.
    """
    root = root or default_data_dir()
    wanted = set(keys) if keys is not None else None
    unknown = (wanted or set()) - {d.key for d in datasets()}
    if unknown:
        raise DataError(
            "data fetch",
            f"no dataset {sorted(unknown)}; known: {', '.join(d.key for d in datasets())}",
        )
    results: list[FetchResult] = []
    for d in datasets():
        if wanted is not None and d.key not in wanted:
            continue
        for item in d.files:
            if file_state(root, item) is FileState.VALID:
                result = FetchResult(d.key, item.path, "already valid")
            else:
                if base_url is not None:
                    url = base_url.rstrip("/") + "/" + urllib.parse.quote(item.path)
                else:
                    url = item.url or ""
                if not url:
                    result = FetchResult(
                        d.key, item.path, f"no direct download: get it from {d.origin_url}"
                    )
                else:
                    try:
                        _download(url, root / item.path, item, timeout)
                        result = FetchResult(d.key, item.path, "fetched")
                    except DataError as exc:
                        result = FetchResult(d.key, item.path, f"failed: {exc.problem}")
                    except (urllib.error.URLError, OSError, TimeoutError) as exc:
                        reason = getattr(exc, "reason", None) or exc
                        result = FetchResult(d.key, item.path, f"failed: {url}: {reason}")
            results.append(result)
            if progress is not None:
                progress(result)
    return results


# ---------------------------------------------------------------------------------------------
# Building the manifest (maintainers only: run when a dataset is updated upstream)


def build_manifest(root: Path, descriptions: list[dict[str, object]]) -> dict[str, object]:
    """The manifest for ``descriptions`` (each with key, title, origin, ..., and ``globs``:
    patterns under ``root``; ``urls``: direct URLs by path) computed from the files in ``root``.
    """
    out = []
    for desc in descriptions:
        globs = desc["globs"]
        urls = desc.get("urls", {})
        assert isinstance(globs, list) and isinstance(urls, dict)
        paths = sorted({p for pattern in globs for p in root.glob(pattern) if p.is_file()})
        files = [
            {
                "path": p.relative_to(root).as_posix(),
                "sha256": sha256_of(p),
                "size": p.stat().st_size,
                **(
                    {"url": urls[p.relative_to(root).as_posix()]}
                    if p.relative_to(root).as_posix() in urls
                    else {}
                ),
            }
            for p in paths
        ]
        entry = {k: v for k, v in desc.items() if k not in ("globs", "urls")}
        entry["files"] = files
        out.append(entry)
    return {"datasets": out}
