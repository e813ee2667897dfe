"""A synthetic county's world kept in a directory, so that ``scomm book`` searches the same
databases ``scomm run`` built, and a second ``scomm run`` skips the build.

Layout of a world directory::

    world.json      format, version, what it was built with (county, seed, gallery size, start,
                    days, population), the county's facts, record counts, and the size and
                    SHA-256 of the two files below; written last
    records.json    the agencies' records: IAFIS rap sheets (by FBI number), IDENT encounters
                    and LESC status records (by FIN)
    people.jsonl    one line per booking of the run: the person's id and print seed, their FBI
                    number and FIN if on record, and the booking message (prints included)
    iafis/, ident/  the two galleries (:class:`scomm.biometrics.gallery.Gallery` directories)

A world is written whole into a temporary directory beside the target and renamed into place,
so an interrupted save leaves no world at all rather than half of one (and the staging folder
a SIGKILL leaves is removed by the next save or run); it is read back only if every file checks
out against ``world.json``. It holds personal data (names, dates of birth, rap sheets, status):
its directories are created readable by their owner only (0700), its files 0600.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scomm.errors import InputError, ScommError
from scomm.files import PRIVATE_DIR, PRIVATE_FILE
from scomm.people import Status
from scomm.pipeline.world import World

if TYPE_CHECKING:
    from scomm.forms.booking import BookingSubmission
    from scomm.pipeline.synthetic import CountyFacts, SyntheticRun

FORMAT = "scomm-world"
FORMAT_VERSION = 1
MANIFEST = "world.json"
RECORDS = "records.json"
PEOPLE = "people.jsonl"
GALLERIES = ("iafis", "ident")
# The capture number of an exported booking is added to this offset to seed its impressions:
# the synthetic build uses offsets 1 (IDENT), 2 (IAFIS) and 3 (the run's booking).
EXPORT_CAPTURE_OFFSET = 4

Booking = tuple[str, dt.datetime, dict[str, Any]]


@dataclass(frozen=True)
class BuiltWith:
    """What a world was drawn from: a run asking for anything else needs another world."""

    county: str
    seed: int
    gallery_size: int
    start: str
    days: int
    population: int | None

    def differences(self, other: BuiltWith) -> list[str]:
        return [
            f"{name} {getattr(self, name)} (asked for {getattr(other, name)})"
            for name in self.__dataclass_fields__
            if getattr(self, name) != getattr(other, name)
        ]


@dataclass(frozen=True)
class PersonEntry:
    """A person booked in the world's run, as ``people.jsonl`` keeps them."""

    person_id: str
    finger_seed: int
    fbi_number: str | None
    fin: str | None
    case_id: str
    booked_at: dt.datetime
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "finger_seed": self.finger_seed,
            "fbi_number": self.fbi_number,
            "fin": self.fin,
            "case_id": self.case_id,
            "booked_at": self.booked_at.isoformat(),
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> PersonEntry:
        try:
            booked_at = dt.datetime.fromisoformat(data["booked_at"])
            entry = cls(
                person_id=str(data["person_id"]),
                finger_seed=int(data["finger_seed"]),
                fbi_number=data["fbi_number"],
                fin=data["fin"],
                case_id=str(data["case_id"]),
                booked_at=booked_at,
                payload=dict(data["payload"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(where, f"not a booked person's entry ({exc!r})") from None
        if booked_at.tzinfo is None:
            raise InputError(where, f"booked_at {data['booked_at']!r} has no time zone")
        return entry


@dataclass
class SavedWorld:
    """A world directory, read: the databases and (if asked for) the run's bookings."""

    path: Path
    built_with: BuiltWith
    county: CountyFacts
    fingers_searched: tuple[int, ...]
    world: World
    people: list[PersonEntry]

    def bookings(self) -> list[Booking]:
        return [(p.case_id, p.booked_at, p.payload) for p in self.people]

    def person(self, person_id: str) -> PersonEntry:
        for p in self.people:
            if p.person_id == person_id:
                return p
        raise InputError(
            "--person",
            f"{person_id!r} is not a person booked in the world {self.path} "
            f"(`scomm world people {self.path}` lists them)",
        )


def is_world(directory: Path) -> bool:
    return (directory / MANIFEST).exists()


# --------------------------------------------------------------------------------------------
# Saving


def save_world(
    directory: Path, run: SyntheticRun, built_with: BuiltWith, bookings: list[Booking]
) -> None:
    """Write ``run``'s world into ``directory`` (absent or empty), all of it or nothing."""
    from scomm.biometrics.gallery import Gallery

    directory = Path(directory)
    check_can_save(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=directory.parent, prefix=f"{_staging_prefix(directory)}{os.getpid()}-")
    )
    # Held until the rename: a later save tells a live save's staging from a killed one's.
    lock = _hold_lock(staging)
    try:
        # mkdtemp made it 0700, which the rename keeps: the world is its owner's only.
        world = run.world
        galleries: dict[str, Gallery] = {
            "iafis": world.iafis.gallery.save_copy(staging / "iafis"),
            "ident": world.ident.gallery.save_copy(staging / "ident"),
        }
        records = {
            "format": f"{FORMAT}-records",
            "version": FORMAT_VERSION,
            "rap_sheets": world.rap_sheets,
            "encounters": world.encounters,
            "status_records": {fin: s.value for fin, s in world.status_records.items()},
        }
        _write_fsync(staging / RECORDS, json.dumps(records, separators=(",", ":")).encode())
        lines = (
            json.dumps(entry.to_json(), separators=(",", ":"))
            for entry in _people_of(run, bookings)
        )
        _write_fsync(staging / PEOPLE, "".join(line + "\n" for line in lines).encode())
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "built_with": asdict(built_with),
            "county": {
                **asdict(run.county),
                "activation_date": _iso(run.county.activation_date),
            },
            "fingers_searched": list(world.fingers_searched),
            "counts": {
                "people": len(bookings),
                "iafis_subjects": len(galleries["iafis"]),
                "ident_subjects": len(galleries["ident"]),
            },
            "files": {name: _file_facts(staging / name) for name in (RECORDS, PEOPLE)},
        }
        _write_fsync(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
        # The lock file goes before the rename (the world must not keep it); the lock itself
        # stays held on the open file, and the folder still names this live process.
        (staging / _LOCK).unlink()
        _make_private(staging)
        # An empty target directory is replaced by the rename (POSIX), a missing one created.
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(lock)


# A save writes into ".NAME.saving-PID-XXXXXX" beside the target, holding an flock on the
# ".saving.lock" file inside it. A SIGKILL leaves the folder behind (211 MB for a county); the
# next save or run removes every such folder whose lock no live process holds.
_LOCK = ".saving.lock"
STALE_UNLOCKED_S = 3600.0  # a staging folder with no lock file (an older scomm's) this old


def _staging_prefix(directory: Path) -> str:
    return f".{directory.name}.saving-"


def _hold_lock(staging: Path) -> int:
    fd = os.open(staging / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _is_stale(staging: Path) -> bool:
    try:
        fd = os.open(staging / _LOCK, os.O_RDWR)
    except FileNotFoundError:
        # Between mkdtemp and the lock (microseconds), or an older scomm's folder: go by the
        # process named in it, else by age.
        pid = staging.name.rsplit(".saving-", 1)[-1].split("-", 1)[0]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return time.time() - staging.stat().st_mtime > STALE_UNLOCKED_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live save holds it
    finally:
        os.close(fd)  # closing drops the lock we may have taken
    return True


def remove_stale_staging(directory: Path) -> list[Path]:
    """Remove the staging folders killed saves of ``directory`` left beside it; return them."""
    directory = Path(directory)
    if not directory.parent.is_dir():
        return []
    removed = []
    for staging in sorted(directory.parent.glob(f"{_staging_prefix(directory)}*")):
        try:
            if staging.is_dir() and not staging.is_symlink() and _is_stale(staging):
                shutil.rmtree(staging)
                removed.append(staging)
        except OSError:
            continue  # another process removed it first, or it is not ours to remove
    return removed


def check_can_save(directory: Path) -> None:
    """Refuse a target that is neither absent nor an empty directory (before any work), and
    remove what killed saves of it left behind."""
    remove_stale_staging(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(
            str(directory), "not a scomm world (no world.json) and not an empty directory"
        )


def _people_of(run: SyntheticRun, bookings: list[Booking]) -> Iterator[PersonEntry]:
    for b, (case_id, at, payload) in zip(run.bookings, bookings, strict=True):
        p = b.person
        yield PersonEntry(
            person_id=p.person_id,
            finger_seed=p.finger_seed,
            fbi_number=f"FBI{p.person_id}" if p.rap_sheet else None,
            fin=f"FIN{p.person_id}" if p.in_ident else None,
            case_id=case_id,
            booked_at=at,
            payload=payload,
        )


def _make_private(root: Path) -> None:
    """Owner-only permissions on everything under ``root`` (the galleries' own writers use the
    umask's)."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), PRIVATE_DIR)
        for name in files:
            os.chmod(os.path.join(folder, name), PRIVATE_FILE)
    os.chmod(root, PRIVATE_DIR)


def _write_fsync(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with open(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _file_facts(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


# --------------------------------------------------------------------------------------------
# Loading


def load_world(directory: Path, *, people: bool = True) -> SavedWorld:
    """Read a world directory; every file is checked against ``world.json`` first. A missing
    or damaged file raises :class:`InputError` naming it."""
    from scomm.biometrics.engine import BiometricEngine
    from scomm.biometrics.gallery import Gallery
    from scomm.pipeline.synthetic import CountyFacts, county_world

    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(str(directory), "no such world directory (`scomm run --world` makes one)")
    manifest_path = directory / MANIFEST
    manifest = _read_json(manifest_path, "no world here (world.json missing)")
    where = str(manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(where, "not a scomm world file")
    if manifest.get("version") != FORMAT_VERSION:
        raise InputError(
            where,
            f"world format version {manifest.get('version')!r}; this scomm reads version "
            f"{FORMAT_VERSION}: build the world again",
        )
    try:
        built_with = BuiltWith(**manifest["built_with"])
        facts = dict(manifest["county"])
        activation = facts.pop("activation_date")
        county = CountyFacts(
            **facts,
            activation_date=None if activation is None else dt.date.fromisoformat(activation),
        )
        fingers_searched = tuple(int(f) for f in manifest["fingers_searched"])
        counts = {k: int(v) for k, v in manifest["counts"].items()}
        files = {
            name: {
                "bytes": int(manifest["files"][name]["bytes"]),
                "sha256": str(manifest["files"][name]["sha256"]),
            }
            for name in (RECORDS, PEOPLE)
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"incomplete or malformed ({exc!r})") from None

    for name in (RECORDS, PEOPLE):
        path = directory / name
        if not path.exists():
            raise InputError(str(path), "missing")
        size = path.stat().st_size
        if size != files[name]["bytes"]:
            raise InputError(
                str(path),
                f"cut short or changed: {size} bytes, world.json says {files[name]['bytes']}",
            )
        if _sha256(path) != files[name]["sha256"]:
            raise InputError(str(path), "corrupt: its SHA-256 differs from world.json's")

    engines: dict[str, BiometricEngine] = {}
    for name in GALLERIES:
        try:
            gallery = Gallery.open(directory / name)
        except ScommError:
            raise
        except OSError as exc:
            raise InputError(str(directory / name), f"unreadable gallery ({exc})") from None
        if len(gallery) != counts[f"{name}_subjects"]:
            raise InputError(
                str(directory / name),
                f"{len(gallery)} subjects, world.json says {counts[f'{name}_subjects']}",
            )
        engines[name] = BiometricEngine(gallery)

    records_path = directory / RECORDS
    records = _read_json(records_path, "missing")
    try:
        world = county_world(
            county, built_with.seed, fingers_searched, engines["iafis"], engines["ident"]
        )
        world.rap_sheets = {str(k): list(v) for k, v in records["rap_sheets"].items()}
        world.encounters = {str(k): list(v) for k, v in records["encounters"].items()}
        world.status_records = {str(k): Status(v) for k, v in records["status_records"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(str(records_path), f"malformed records ({exc!r})") from None

    entries: list[PersonEntry] = []
    if people:
        people_path = directory / PEOPLE
        with open(people_path, encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                at = f"{people_path}: line {n}"
                try:
                    data = json.loads(line)
                except ValueError as exc:
                    raise InputError(at, f"not JSON ({exc})") from None
                entries.append(PersonEntry.from_json(data, at))
        if len(entries) != counts["people"]:
            raise InputError(
                str(people_path), f"{len(entries)} people, world.json says {counts['people']}"
            )
    return SavedWorld(directory, built_with, county, fingers_searched, world, entries)


def _read_json(path: Path, missing: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(str(path), missing) from None
    except OSError as exc:
        raise InputError(str(path), f"unreadable ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(str(path), f"cut short or corrupt: not JSON ({exc})") from None


# --------------------------------------------------------------------------------------------
# Exporting a booking


def export_submission(saved: SavedWorld, person_id: str, capture: int = 0) -> BookingSubmission:
    """A ten-print transaction of a person booked in the world: a new capture of their prints
    (impressions drawn afresh from their master prints, seed ``capture``), as Type-9 minutiae
    with Type-14 ridge images of the same size, and their booking's descriptive text."""
    import numpy as np

    from scomm.forms.booking import BookingSubmission, Charge, ridge_image
    from scomm.pipeline.synthetic import FINGERS, impression_of, master_fingers

    if capture < 0:
        raise InputError("--capture", f"{capture} is negative")
    entry = saved.person(person_id)
    masters = master_fingers(entry.finger_seed)
    seed = entry.finger_seed + EXPORT_CAPTURE_OFFSET + capture
    templates = impression_of(masters, seed, FINGERS)
    images = {}
    for f, t in templates.items():
        rng = np.random.default_rng([entry.finger_seed, capture, f])
        images[f] = ridge_image(rng, t.height, t.width)
    p = entry.payload
    try:
        return BookingSubmission(
            transaction_control_number=f"TCN{entry.person_id}-{capture}",
            ori=p["ori"],
            booked_at=entry.booked_at,
            name=p["name"],
            date_of_birth=dt.date.fromisoformat(p["date_of_birth"]),
            sex=p["sex"],
            place_of_birth=p["place_of_birth"],
            charges=tuple(Charge(c["code"], c["grade"]) for c in p["charges"]),
            fingers=images,
            minutiae=templates,
            contact=p.get("contact"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{saved.path / PEOPLE}: person {person_id}", f"cannot make a transaction: {exc}"
        ) from None
