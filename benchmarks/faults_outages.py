"""The fault campaign's parts that take the machine from under a real ``scomm run``: the
PostgreSQL server restarted or stopped mid-run (a throwaway cluster of our own, never the
shared one), and a full disk (a small tmpfs). Run by ``benchmarks/faults.py``; the runs and
their comparison with the uninterrupted run are in ``benchmarks/faults_runs.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from faults_runs import (  # benchmarks/faults_runs.py
    CannotRun,
    Workspace,
    outcome,
    prepare,
    run_to_end,
    sqlite_url,
    start,
    totals,
    wait_end,
    wait_for_moment,
)

from tests.fuzz.processes import count_events, postgres_schema, store_findings

OWN_CLUSTER = ("15", "faults")  # pg_createcluster VERSION NAME: a throwaway server of our own
OWN_PORT = 5442
OWN_ROLE = "scomm_faults"


# --------------------------------------------------------------------------- the server restarted


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=False
    )


@contextmanager
def own_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on port 5442 (created, started, dropped after): a
    restart then disturbs nobody else's tests on the shared server."""
    version, name = OWN_CLUSTER
    subprocess.run(["pg_dropcluster", version, name, "--stop"], capture_output=True, check=False)
    made = subprocess.run(
        ["pg_createcluster", version, name, "--port", str(OWN_PORT), "--start"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise CannotRun(
            f"pg_createcluster: {made.stderr.strip() or made.stdout.strip()} (the shared "
            "server is not restarted instead: other tests run on it)"
        )
    try:
        password = uuid.uuid4().hex
        for sql in (
            f"CREATE ROLE {OWN_ROLE} LOGIN PASSWORD '{password}'",
            f"CREATE DATABASE {OWN_ROLE} OWNER {OWN_ROLE}",
        ):
            done = _as_postgres("psql", "-p", str(OWN_PORT), "-v", "ON_ERROR_STOP=1", "-c", sql)
            if done.returncode != 0:
                raise CannotRun(f"psql on the own cluster: {done.stderr.strip()}")
        yield f"postgresql://{OWN_ROLE}:{password}@localhost:{OWN_PORT}/{OWN_ROLE}"
    finally:
        subprocess.run(["pg_dropcluster", version, name, "--stop"], capture_output=True)


def pg_ctl(action: str) -> str:
    done = subprocess.run(
        ["pg_ctlcluster", *OWN_CLUSTER, action, *(["-m", "fast"] if action != "start" else [])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stderr.strip()


def pg_restart(ws: Workspace, trials_n: int, down_s: float, seed: int) -> dict[str, Any]:
    """Each trial: a run on the own cluster; when it has written a random share of its events
    the server is restarted (odd trials: stopped for ``down_s`` seconds, then started). The run
    must wait for it and finish (or stop with a clear error, and a rerun finish), with the
    log of the uninterrupted run."""
    prepare(ws, [])
    ref = ws.references["sqlite"]
    rng = np.random.default_rng(seed)
    trials = []
    with own_cluster() as base:
        for i in range(trials_n):
            directory = ws.trial_dir("restart")
            with postgres_schema(base, "faults") as url:
                argv = ws.argv(url, directory / "run.json")
                proc = start(argv, directory / "run.log")
                target = int(rng.integers(1, ref.events))
                wait_for_moment(proc, url, None, target)
                at = count_events(url)
                how = "restart" if i % 2 == 0 else f"stop {down_s:g} s, start"
                problems = [pg_ctl("restart")] if i % 2 == 0 else [pg_ctl("stop")]
                if i % 2:
                    time.sleep(down_s)
                    problems.append(pg_ctl("start"))
                run = wait_end(proc, directory / "run.log", ws.hang_s)
                ends = [run]
                if run["rc"] != 0:  # stopped with an error: a rerun must finish the work
                    ends.append(run_to_end(argv, ws.hang_s))
                end = outcome(ws, url, directory, {"run.json", "run.log"})
            trials.append({"how": how, "events_at_restart": at, "server": [p for p in problems if p],
                           "runs": ends, **end})  # fmt: skip
            print(f"faults: server {how} at {at} events: runs {ends}, {end}", flush=True)
    return {
        **totals(trials),
        "server": f"own cluster {'/'.join(OWN_CLUSTER)} on port {OWN_PORT} (not the shared one)",
        "waited_and_finished": sum(1 for t in trials if t["runs"][0]["rc"] == 0),
        "trials": trials,
    }


# --------------------------------------------------------------------------- a full disk


@contextmanager
def small_filesystem(size: str) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        raise CannotRun("mounting a tmpfs needs root and mount(8)")
    mount_point = Path(tempfile.mkdtemp(prefix="scomm-faults-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        mount_point.rmdir()
        raise CannotRun(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def full_disk(ws: Workspace, trials_n: int, seed: int) -> dict[str, Any]:
    """Each trial: the store and the figures on a 20 MB tmpfs filled up to a random room
    (8 KB to 1 MB, log-uniform): the run stops with a clear error (exit 2, "is full", no
    traceback, no spinning), leaves nothing half-written, and a rerun with the room back
    finishes with the uninterrupted run's log."""
    prepare(ws, [])
    rng = np.random.default_rng(seed)
    trials: list[dict[str, Any]] = []
    with small_filesystem("20m") as disk:
        for _ in range(trials_n):
            directory = disk / f"trial-{len(trials) + 1}"
            directory.mkdir()
            filler = disk / "filler"
            room = int(np.exp(rng.uniform(np.log(8 << 10), np.log(1 << 20))))
            filler.write_bytes(b"\0" * max(shutil.disk_usage(disk).free - room, 0))
            argv = ws.argv(sqlite_url(directory), directory / "run.json")
            full = run_to_end(argv, ws.hang_s)
            said_full = "full" in full["error"] or "No space" in full["error"]
            full["clear"] = full["rc"] == 0 or (
                full["rc"] == 2 and said_full and not full["traceback"]
            )
            cut = (
                store_findings(sqlite_url(directory)) if count_events(sqlite_url(directory)) else {}
            )
            filler.unlink()
            rerun = run_to_end(argv, ws.hang_s)
            end = outcome(ws, sqlite_url(directory), directory, {"run.json"})
            if cut.get("cases_with_seq_gaps"):
                end["half_writes"].append("a case's events cut part-way by the full disk")
            if not full["clear"]:
                end["half_writes"].append(f"unclear stop: {full['error']!r}")
            trials.append({"room_bytes": room, "runs": [full, rerun], **end})
            print(f"faults: full disk, {room} bytes of room: {full}, rerun {rerun['rc']}")
            shutil.rmtree(directory)
    return {
        **totals(trials),
        "filesystem": "tmpfs, 20 MB",
        "stopped_by_the_full_disk": sum(1 for t in trials if t["runs"][0]["rc"] == 2),
        "trials": trials,
    }
