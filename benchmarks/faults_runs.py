"""The fault campaign's real ``scomm run`` processes: SIGKILLs then a resume, two processes on
one run, and what every run-based part shares (the saved world, the uninterrupted runs, the
comparison with them); the server restart and the full disk are in
``benchmarks/faults_outages.py``. Run by ``benchmarks/faults.py`` (the figures, the commands).

Every part compares what the store holds at the end with an uninterrupted run of the same
parameters (the *reference*, on SQLite: the event log is backend-independent, and the
PostgreSQL reference is checked to equal it), through :mod:`tests.fuzz.processes`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.fuzz.processes import (
    cases_with_two_detainers,
    compare,
    count_events,
    event_log,
    postgres_schema,
    run_figures,
    scomm_argv,
    scomm_env,
    store_findings,
    stray_files,
)

POLL_S = 0.05


class CannotRun(RuntimeError):
    """The machine does not allow a part (no root for a tmpfs, no cluster of our own)."""


@dataclass
class Reference:
    """An uninterrupted run: its log, its figures, how long it took and how many events."""

    log: Counter[tuple[Any, ...]]
    figures: dict[str, Any] | None
    wall_s: float
    events: int
    first_event_s: float  # when its first event was written, seconds after the start


@dataclass
class Workspace:
    """A scratch folder, the run's parameters, the saved world every run reuses (built once:
    the world's own SIGKILL safety is tested in tests/test_saved_world_staging.py), and the
    references."""

    root: Path
    run_args: list[str]
    postgres_url: str | None
    hang_s: float = 0.0
    references: dict[str, Reference] = field(default_factory=dict)
    counter: int = 0

    @property
    def world(self) -> Path:
        return self.root / "world"

    def trial_dir(self, label: str) -> Path:
        self.counter += 1
        path = self.root / f"{label}-{self.counter:03d}"
        path.mkdir()
        return path

    def argv(self, url: str, out: Path) -> list[str]:
        return scomm_argv(
            "run", *self.run_args, "--world", str(self.world), "--db", url, "--json", str(out)
        )


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory}/store.sqlite"


@contextmanager
def store_for(ws: Workspace, backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory)
        return
    assert ws.postgres_url is not None
    with postgres_schema(ws.postgres_url, "faults") as url:
        yield url


def run_to_end(argv: list[str], timeout_s: float) -> dict[str, Any]:
    """Run a command to its end: exit code, seconds, whether it hung or printed a traceback."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, env=scomm_env(), capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stderr or b"") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        text_out = out.decode(errors="replace") if isinstance(out, bytes) else out
        return {"rc": None, "s": round(time.monotonic() - started, 2), "hang": True,
                "traceback": "Traceback" in text_out, "error": ""}  # fmt: skip
    output = done.stdout + done.stderr
    error = done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr else ""
    return {
        "rc": done.returncode,
        "s": round(time.monotonic() - started, 2),
        "hang": False,
        "traceback": "Traceback" in output,
        "error": error[:300],
    }


def prepare(ws: Workspace, backends: list[str]) -> None:
    """The saved world (built by a first run) and the reference of each backend asked for."""
    if not ws.world.exists():
        build = ws.trial_dir("world")
        print("faults: building the saved world (one run)", flush=True)
        result = run_to_end(ws.argv(sqlite_url(build), build / "run.json"), 1800)
        if result["rc"] != 0:
            raise SystemExit(f"the world-building run failed: {result}")
    for backend in ["sqlite", *backends]:
        if backend in ws.references:
            continue
        directory = ws.trial_dir(f"reference-{backend}")
        with store_for(ws, backend, directory) as url:
            proc = start(ws.argv(url, directory / "run.json"), directory / "run.log")
            first_event_s, _ = wait_for_moment(proc, url, None, 1)
            result = wait_end(proc, directory / "run.log", 1800)
            if result["rc"] != 0:
                raise SystemExit(f"the {backend} reference run failed: {result}")
            log = event_log(url)
        ws.references[backend] = Reference(
            log,
            run_figures(directory / "run.json"),
            round(first_event_s + result["s"], 2),
            sum(log.values()),
            first_event_s,
        )
        print(f"faults: {backend} reference, {sum(log.values())} events in {result['s']} s")
    ws.hang_s = max(180.0, 8 * max(r.wall_s for r in ws.references.values()))


def reference_agreement(ws: Workspace) -> dict[str, Any]:
    sqlite = ws.references["sqlite"]
    out: dict[str, Any] = {
        "events": sqlite.events,
        "wall_s": {b: r.wall_s for b, r in ws.references.items()},
        "first_event_s": {b: r.first_event_s for b, r in ws.references.items()},
        "cases_with_two_detainers": cases_with_two_detainers(sqlite.log),
        "detainers": sum(n for k, n in sqlite.log.items() if k[2] == "detainer.issued"),
        "cases": len({k[0] for k in sqlite.log}),
    }
    if "postgresql" in ws.references:
        out["postgresql_log_equals_sqlite"] = ws.references["postgresql"].log == sqlite.log
    return out


def outcome(
    ws: Workspace,
    url: str,
    directory: Path,
    keep: set[str],
    outputs: tuple[str, ...] = ("run.json",),
) -> dict[str, Any]:
    """What a finished (resumed) run left, against the reference: events lost and written
    twice, and anything half-written (a task not finished, a case with a gap in its events,
    a figures file that is not the uninterrupted run's, a temporary file left behind)."""
    ref = ws.references["sqlite"]
    findings = store_findings(url)
    half = []
    if findings["tasks_unfinished"]:
        half.append(f"{findings['tasks_unfinished']} tasks not finished")
    if findings["cases_with_seq_gaps"]:
        half.append(f"{findings['cases_with_seq_gaps']} cases with gaps in their events")
    for name in outputs:
        figures = run_figures(directory / name)
        if (directory / name).exists() and figures is None:
            half.append(f"{name} is not valid JSON")
        elif figures is not None and figures != ref.figures:
            half.append(f"{name}'s figures differ from the uninterrupted run's")
    if strays := stray_files(directory, keep | set(outputs)):
        half.append(f"left behind: {', '.join(strays)}")
    return {
        **compare(ref.log, event_log(url)),
        "cases_with_two_detainers": findings["cases_with_two_detainers"],
        "runs_recorded": findings["runs_recorded"],
        "half_writes": half,
    }


# --------------------------------------------------------------------------- SIGKILL, resume


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            argv, env=scomm_env(), stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill reaches every child
        )  # fmt: skip


def wait_end(proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> dict[str, Any]:
    """How a started process ended (killed if it hangs past ``timeout_s``), as
    :func:`run_to_end` says it."""
    started = time.monotonic()
    try:
        proc.wait(timeout_s)
        end: dict[str, Any] = {"rc": proc.returncode, "hang": False}
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        end = {"rc": None, "hang": True}
    text = log.read_text(errors="replace")
    lines = text.strip().splitlines()
    end["s"] = round(time.monotonic() - started, 2)
    end["traceback"] = "Traceback" in text
    end["error"] = lines[-1][:300] if end["rc"] and lines else ""
    return end


def wait_for_moment(
    proc: subprocess.Popen[bytes], url: str, seconds: float | None, events: int | None
) -> tuple[float, int]:
    """Wait until ``seconds`` after the start or until the store holds ``events`` events (or
    the process ends); seconds waited and events then."""
    started = time.monotonic()
    deadline = started + (seconds if seconds is not None else 600.0)
    n = 0
    while proc.poll() is None and time.monotonic() < deadline:
        if events is not None:
            n = count_events(url)
            if n >= events:
                break
        time.sleep(POLL_S)
    return round(time.monotonic() - started, 2), n


def kill_chain(
    ws: Workspace, backend: str, rng: np.random.Generator, length: int
) -> dict[str, Any]:
    """One store, ``length`` runs each killed with SIGKILL at a seeded moment (one time in
    four by the clock: from 0.2 s to when the uninterrupted run wrote its first event, in the
    start-up, the world's loading and the submission; otherwise when the store holds a number
    of events drawn for the chain, sorted, and more than it held: inside the steps), then a
    run to the end. Each killed run is a real ``scomm run`` of the same parameters, resuming
    what the ones before left; a chain ends early once every event is written."""
    ref = ws.references[backend]
    directory = ws.trial_dir(f"kill-{backend}")
    kills: list[dict[str, Any]] = []
    # The chain's moments by events, spread over the run: a sorted sample of 1..events.
    cuts = np.sort(rng.integers(1, max(ref.events, 2), length))
    with store_for(ws, backend, directory) as url:
        argv = ws.argv(url, directory / "run.json")
        for j in range(length):
            before = count_events(url)
            if before >= ref.events:
                break  # all written: what is left of the run is its end, killed already
            by_seconds = rng.random() < 0.25
            p = start(argv, directory / f"killed-{j + 1}.log")
            target: float | int
            if by_seconds:
                target = round(float(rng.uniform(0.2, ref.first_event_s)), 2)
                at_s, _ = wait_for_moment(p, url, target, None)
            else:
                target = max(int(cuts[j]), before + 1)  # each killed run gets somewhere
                at_s, _ = wait_for_moment(p, url, None, target)
            finished_first = p.poll() is not None
            if not finished_first:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            at_kill = count_events(url)
            cut = store_findings(url)["cases_with_seq_gaps"] if at_kill else 0
            kills.append({
                "by": "seconds" if by_seconds else "events", "target": target, "at_s": at_s,
                "events_at_kill": at_kill, "killed": not finished_first
                and p.returncode == -signal.SIGKILL, "cases_cut_part_way": cut,
            })  # fmt: skip
            if finished_first:
                break  # the run got to its end before the moment drawn
        resume = run_to_end(argv, ws.hang_s)
        keep = {"run.json", *(f"killed-{j + 1}.log" for j in range(length))}
        end = outcome(ws, url, directory, keep)
    if cut_part_way := sum(k["cases_cut_part_way"] for k in kills):
        end["half_writes"].append(f"{cut_part_way} cases' events cut part-way at a kill")
    return {"kills": kills, "resume": resume, **end}


def sigkills(ws: Workspace, backend: str, kills: int, per_chain: int, seed: int) -> dict[str, Any]:
    prepare(ws, [backend])
    rng = np.random.default_rng(seed)
    chains: list[dict[str, Any]] = []
    done = 0
    while done < kills and len(chains) < 2 * kills:
        chain = kill_chain(ws, backend, rng, min(per_chain, kills - done))
        chains.append(chain)
        done += sum(k["killed"] for k in chain["kills"])
        print(
            f"faults: {backend} chain {len(chains)}: kills at "
            f"{[k['events_at_kill'] for k in chain['kills']]} events, resume rc "
            f"{chain['resume']['rc']}, lost {chain['lost']}, duplicated {chain['duplicated']}",
            flush=True,
        )
    every = [k for c in chains for k in c["kills"]]
    return {
        **totals(chains),
        "cases": len(every),
        "kills": sum(k["killed"] for k in every),
        "kills_per_chain": per_chain,
        "chains": len(chains),
        "finished_before_the_kill": sum(not k["killed"] for k in every),
        "killed_before_the_first_event": sum(k["events_at_kill"] == 0 for k in every),
        "events_at_kill": summary_of([k["events_at_kill"] for k in every]),
        "reference": reference_agreement(ws),
        "trials": chains,
    }


def summary_of(values: list[int]) -> dict[str, int]:
    if not values:
        return {}
    return {"min": min(values), "median": int(np.median(values)), "max": max(values)}


def totals(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The campaign's counters over the trials of one class (each trial's ``resume`` or
    ``runs`` says how its processes ended)."""
    ends = [e for t in trials for e in ([t["resume"]] if "resume" in t else t["runs"])]
    return {
        "cases": len(trials),
        "clean_refusals": sum(1 for e in ends if e["rc"] == 2 and not e["traceback"]),
        "tracebacks": sum(1 for e in ends if e["traceback"]),
        "hangs": sum(1 for e in ends if e["hang"]),
        "half_writes": sum(len(t["half_writes"]) for t in trials),
        "lost": sum(t["lost"] for t in trials),
        "duplicated": sum(t["duplicated"] for t in trials),
        "cases_with_two_detainers": sum(t["cases_with_two_detainers"] for t in trials),
        "identical_to_uninterrupted": sum(
            1 for t in trials if not (t["lost"] or t["duplicated"] or t["half_writes"])
        ),
    }


# --------------------------------------------------------------------------- two processes


def concurrent(ws: Workspace, backend: str, pairs: int, seed: int) -> dict[str, Any]:
    """``pairs`` pairs of processes on one run: the first pair started together, the others
    the second process started when the first has written a random share of the events."""
    prepare(ws, [backend])
    rng = np.random.default_rng(seed)
    ref = ws.references[backend]
    trials = []
    for pair in range(pairs):
        directory = ws.trial_dir(f"pair-{backend}")
        with store_for(ws, backend, directory) as url:
            argvs = [ws.argv(url, directory / f"run-{i}.json") for i in (1, 2)]
            first = start(argvs[0], directory / "first.log")
            joined_at = None
            if pair:
                _, joined_at = wait_for_moment(first, url, None, int(rng.integers(1, ref.events)))
            second = run_to_end(argvs[1], ws.hang_s)
            first_end = wait_end(first, directory / "first.log", ws.hang_s)
            # Each process's figures are the one run's.
            end = outcome(ws, url, directory, {"first.log"}, ("run-1.json", "run-2.json"))
        if end["runs_recorded"] != 1:
            end["half_writes"].append(f"{end['runs_recorded']} runs recorded, not one")
        trials.append({"second_started_at_events": joined_at, "runs": [first_end, second], **end})
        print(f"faults: {backend} pair {pair + 1}: {end}", flush=True)
    failed = sum(1 for t in trials for e in t["runs"] if e["rc"] != 0)
    # Each process must do its share and end well: a second process refused is a failure
    # here, not a clean refusal.
    return {**totals(trials), "processes": 2 * pairs, "processes_failed": failed, "trials": trials}
