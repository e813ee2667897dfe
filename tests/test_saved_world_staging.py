"""A save killed with SIGKILL leaves its staging folder; the next save or run removes it, and
never the staging folder of a save still in progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from scomm.pipeline import saved_world

# A real save of a small world that stops (sleeps) once the galleries and records are written,
# as a save is when a SIGKILL arrives.
SAVER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from scomm.pipeline import saved_world
    from scomm.pipeline.synthetic import CountyFacts, build

    county = CountyFacts(
        fips="48201", name="Harris County", state="TX", population=100_000,
        noncitizen_share=0.2, activation_date=dt.date(2008, 10, 27), field_office="Houston",
    )
    run = build(county, dt.date(2013, 6, 1), 1, 3, gallery_size=60)
    bookings = list(run.booking_messages())

    def stall(*_):
        print("saving", flush=True)
        time.sleep(600)

    saved_world._people_of = stall
    built = saved_world.BuiltWith("48201", 3, 60, "2013-06-01", 1, 100_000)
    saved_world.save_world(__import__("pathlib").Path(sys.argv[1]), run, built, bookings)
    """
)


def start_saver(target: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SAVER, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def wait_until_saving(saver: subprocess.Popen[str]) -> None:
    assert saver.stdout is not None
    line = saver.stdout.readline()  # blocks until the staging folder is written
    assert line.strip() == "saving", f"the saver did not reach the save (exit {saver.poll()})"


def staging_of(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.saving-*"))


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_killed_save_is_cleaned_up_and_a_live_one_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "world"
    killed, live = start_saver(target), start_saver(target)
    try:
        wait_until_saving(killed)
        wait_until_saving(live)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
        left = staging_of(target)
        assert len(left) == 2 and all(size_of(folder) > 10_000 for folder in left)
        killed_folder = next(f for f in left if f"saving-{killed.pid}-" in f.name)

        removed = saved_world.remove_stale_staging(target)
        assert removed == [killed_folder]
        still = staging_of(target)
        assert len(still) == 1 and f"saving-{live.pid}-" in still[0].name

        os.kill(live.pid, signal.SIGKILL)
        live.wait(30)
        saved_world.check_can_save(target)  # what `scomm run --world` calls before building
        assert staging_of(target) == []
        assert not target.exists()
    finally:
        for saver in (killed, live):
            if saver.poll() is None:
                saver.kill()
                saver.wait()


def test_a_lockless_folder_is_kept_while_its_process_lives(tmp_path: Path) -> None:
    # The instant between creating the staging folder and locking it, and folders of an older
    # scomm: judged by the process id in the name, else by age.
    target = tmp_path / "world"
    mine = tmp_path / f".world.saving-{os.getpid()}-abc"
    mine.mkdir()
    dead_pid = _a_dead_pid()
    dead = tmp_path / f".world.saving-{dead_pid}-abc"
    dead.mkdir()
    old, new = tmp_path / ".world.saving-oldfmt1", tmp_path / ".world.saving-oldfmt2"
    old.mkdir()
    new.mkdir()
    an_hour_ago = time.time() - saved_world.STALE_UNLOCKED_S - 60
    os.utime(old, (an_hour_ago, an_hour_ago))
    other = tmp_path / ".elsewhere.saving-1-abc"  # another world's: not ours to judge
    other.mkdir()
    assert sorted(saved_world.remove_stale_staging(target)) == sorted([dead, old])
    assert mine.exists() and new.exists() and other.exists()


def _a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_finished_save_leaves_no_lock_file(tmp_path: Path) -> None:
    from scomm.pipeline.synthetic import build
    from tests.test_pipeline_world import COUNTY, START, built_with

    run = build(COUNTY, START, 1, 3, gallery_size=60)
    saved_world.save_world(tmp_path / "world", run, built_with(), list(run.booking_messages()))
    assert not (tmp_path / "world" / ".saving.lock").exists()
    assert staging_of(tmp_path / "world") == []
    assert saved_world.load_world(tmp_path / "world").built_with == built_with()
