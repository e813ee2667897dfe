"""What-if jobs: a question (place, reform, period, runs) run in the background beside its
baseline, with progress, kept by the question's key so that a shared URL reopens the answer
(or reruns it, the same, from the same seed)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scomm.errors import InputError, ScommError
from scomm.outputs import term
from scomm.policies.load import parse_policy
from scomm.policies.schema import JurisdictionPolicy
from scomm.simulation.engine import OUTPUTS, Options
from scomm.simulation.national import months
from scomm.simulation.results import SHARES
from scomm.simulation.scenarios import baseline_rules
from scomm.store.events import EventStore
from scomm.web.jobstore import HEARTBEAT_S, STALE_S, JobRow, JobStore
from scomm.web.reforms import parse_reform, reform_text, rules_for_reforms
from scomm.web.simulate import band, estimate, place_of, place_runs

# The figures a what-if page compares, and the series it draws by month.
COMPARED = (
    "bookings",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "holds",
    "hold_bed_days",
    "hold_cost_usd",
    "us_citizens_held",
    "transfers",
    "removals",
    "removals_non_criminal",
    "removals_non_criminal_share",
    "detainers_declined_share",
)
SERIES = ("detainers_issued", "holds", "removals")
DEFAULT_SAMPLE = {"county": 0.25, "state": 0.05, "nation": 0.02}
MAX_RUNS = 20


@dataclass(frozen=True)
class Question:
    place: str = "US"
    reform: str = ""
    first: str = "2008-10"
    last: str = "2014-09"
    runs: int = 5
    seed: int = 1
    sample: float | None = None  # None: by the place's size (DEFAULT_SAMPLE)
    draft: str | None = None  # key of a draft policy file (see Drafts)

    def checked(self) -> Question:
        """The question with its place and reform in canonical form; bad input refused."""
        place = place_of(self.place)
        reforms = parse_reform(self.reform)
        months(self.first, self.last)
        if not 1 <= self.runs <= MAX_RUNS:
            raise InputError("runs", f"between 1 and {MAX_RUNS}, not {self.runs}")
        kind = "nation" if place.code == "US" else "state" if len(place.code) == 2 else "county"
        sample = DEFAULT_SAMPLE[kind] if self.sample is None else self.sample
        if not 0 < sample <= 1:
            raise InputError("sample", f"a share in (0, 1], not {sample}")
        if not reforms and self.draft is None:
            raise InputError("reform", "choose at least one reform or a draft policy")
        return Question(
            place.code,
            reform_text(reforms),
            self.first,
            self.last,
            self.runs,
            self.seed,
            sample,
            self.draft,
        )

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def query(self) -> dict[str, str]:
        """The URL query that asks it again."""
        out = {k: str(v) for k, v in asdict(self).items() if v is not None and v != ""}
        return out


class Drafts:
    """Draft policy files, by the hash of their text: kept in a folder (or in memory), never
    installed among the package's policies."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, str] = {}

    def add(self, text: str) -> str:
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{key}.yaml").write_text(text)
        self._memory[key] = text
        return key

    def text(self, key: str) -> str:
        if key in self._memory:
            return self._memory[key]
        if self.directory is not None and key.isalnum():
            path = self.directory / f"{key}.yaml"
            if path.exists():
                return path.read_text()
        raise InputError(f"draft {key}", "no such draft policy (upload it again on /policies)")

    def policy(self, key: str) -> JurisdictionPolicy:
        parsed = parse_policy(self.text(key), f"draft {key}")
        if not isinstance(parsed, JurisdictionPolicy):
            raise InputError(f"draft {key}", "a what-if takes a jurisdiction's file, not fips: US")
        return parsed


@dataclass(frozen=True)
class Job:
    """A what-if job as a page shows it (the row of :mod:`scomm.web.jobstore`)."""

    id: str
    question: Question
    status: str  # queued, running, done, failed
    progress: float
    error: str | None
    result: dict[str, Any] | None
    seconds: float | None

    @classmethod
    def of_row(cls, row: JobRow) -> Job:
        question = Question(**row.question)
        return cls(row.id, question, row.status, row.progress, row.error, row.result, row.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": asdict(self.question),
            "status": self.status,
            "progress": round(self.progress, 3),
            "error": self.error,
            "seconds": self.seconds,
            "result": self.result,
        }


def _totals(outputs: np.ndarray) -> dict[str, np.ndarray]:
    """Per run, each output's and share's total over months: ``outputs`` [run, month, output]
    (the place's counties summed)."""
    totals = outputs.sum(axis=1)  # [run, output]
    out = {name: totals[:, k] for k, name in enumerate(OUTPUTS)}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (parts, per) in SHARES.items():
            out[name] = sum(out[p] for p in parts) / out[per]
    return out


# The baselines a worker has run, by (place, first, last, runs, seed, sample): a second
# reform for the same place and period reruns only the reform. Summed over the place's
# counties ([run, month, output]), so even the nation's is small.
BASELINES_KEPT = 16
_baselines: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()


def _baseline_key(question: Question) -> tuple[Any, ...]:
    q = question
    return (q.place, q.first, q.last, q.runs, q.seed, q.sample)


def _baseline(
    question: Question, options: Options, progress: Callable[[float], None]
) -> np.ndarray:
    key = _baseline_key(question)
    if key in _baselines:
        _baselines.move_to_end(key)
        return _baselines[key]
    place = place_of(question.place)
    runs = place_runs(
        place, question.first, question.last, baseline_rules(), question.runs, question.seed,
        options, progress=progress,
    ).sum(axis=2)  # fmt: skip
    _baselines[key] = runs
    while len(_baselines) > BASELINES_KEPT:
        _baselines.popitem(last=False)
    return runs


def answer(question: Question, drafts: Drafts, progress: Any = None) -> dict[str, Any]:
    """Run the question: the reform and the baseline, the same random numbers for both."""
    place = place_of(question.place)
    draft = drafts.policy(question.draft) if question.draft else None
    rules = rules_for_reforms(parse_reform(question.reform), draft)
    options = Options(sample=question.sample or 1.0)
    tell = progress or (lambda value: None)
    base_share = 0.0 if _baseline_key(question) in _baselines else 0.5
    base = _baseline(question, options, lambda v: tell(v * base_share))
    reform = place_runs(
        place, question.first, question.last, rules, question.runs, question.seed, options,
        progress=lambda v: tell(base_share + v * (1 - base_share)),
    ).sum(axis=2)  # fmt: skip
    b, r = _totals(base), _totals(reform)
    figures = []
    for name in COMPARED:
        t = term(name)
        figures.append(
            {
                "name": name,
                "label": t.label,
                "definition": t.definition,
                "unit": t.unit,
                "baseline": estimate(b[name]),
                "reform": estimate(r[name]),
                "difference": estimate(r[name] - b[name]),
            }
        )
    span = [str(m) for m in months(question.first, question.last)]
    series = {}
    for name in SERIES:
        k = OUTPUTS.index(name)
        series[name] = {
            "label": term(name).label,
            "baseline": band(base[:, :, k]),
            "reform": band(reform[:, :, k]),
        }
    return {
        "place": {"code": place.code, "name": place.name, "counties": int(place.index.size)},
        "rules": rules.scenario,
        "months": span,
        "figures": figures,
        "series": series,
        "interval": "90% (5th to 95th percentile of the runs)",
        "note": (
            f"{question.runs} run(s) at sample {question.sample:g} (a share of bookings drawn, "
            "weighted back up); the reform and the baseline meet the same random numbers"
        ),
    }


# In a what-if worker process: where its jobs report their progress, and the server process
# that started it.
_progress: Any = None
_server_pid: int | None = None


def _start_worker(progress: Any) -> None:
    global _progress, _server_pid
    _progress = progress
    _server_pid = os.getppid()


class ServerGone(Exception):
    """The server process that asked for this job is dead: the job is dropped (its row is
    marked failed by the next reader, or given back to the queue)."""


def _warm() -> None:
    """Load once, in the worker, what every what-if reads (policy files, rates, the county
    table, the hold clock's calendars): one county's month under a reform does it all, so
    the first question asked is as quick as the next."""
    place = place_of("48453")
    place_runs(
        place, "2012-01", "2012-01", rules_for_reforms(parse_reform("judicial_warrant")), 1, 0,
        Options(sample=0.01),
    )  # fmt: skip
    baseline_rules()


def _answer_in_worker(
    job_id: str, question: Question, draft_text: str | None
) -> tuple[str, Any, float]:
    """``answer`` in the worker process: ("done", result, seconds) or ("failed", message,
    seconds), never an exception (a job's failure is shown on its page; the worker goes on)."""
    began = time.perf_counter()
    drafts = Drafts(None)
    if draft_text is not None:
        drafts.add(draft_text)

    def progress(value: float) -> None:
        if _server_pid is not None and os.getppid() != _server_pid:
            raise ServerGone()  # orphaned (the server was killed): stop at once
        _progress.put((job_id, value))

    value: Any  # the result, or the failure's message
    try:
        status, value = "done", answer(question, drafts, progress)
    except ScommError as exc:
        status, value = "failed", str(exc)
    except ServerGone:
        os._exit(0)  # nobody to answer: end the orphaned worker
    except Exception as exc:
        status, value = "failed", f"{type(exc).__name__}: {exc}"
    return status, value, time.perf_counter() - began


class Jobs:
    """The what-if jobs of one server process. The jobs themselves are rows of the store's
    database (:class:`~scomm.web.jobstore.JobStore`), shared by every process; this process
    claims one queued job at a time and runs it in a worker process of its own, so that a
    simulation never holds the interpreter that serves pages. Progress comes back from the
    worker over a queue, and goes into the row with a heartbeat."""

    POLL_S = 0.5

    def __init__(self, store: EventStore, drafts: Drafts, stale_s: float = STALE_S) -> None:
        self.drafts = drafts
        self.table = JobStore(store, stale_s)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # spawn: the server has threads, which a forked child must not inherit half-held.
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue()
        self._pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_start_worker, initargs=(self._queue,)
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._latest: dict[str, float] = {}  # the running job's progress, from the worker
        self._lock = threading.Lock()
        self._runner = threading.Thread(target=self._run, name="what-if runner", daemon=True)
        self._listener = threading.Thread(target=self._listen, name="what-if progress", daemon=True)

    def start(self) -> None:
        """Start the worker (imports and policy files take seconds: now, not on the first
        question) and begin claiming jobs."""
        self._pool.submit(_warm)
        self._listener.start()
        self._runner.start()

    def submit(self, question: Question) -> Job:
        question = question.checked()
        draft_text = self.drafts.text(question.draft) if question.draft else None
        if question.draft:
            self.drafts.policy(question.draft)  # refuse a bad draft now, not in the job
        row = self.table.submit(question.key(), asdict(question), draft_text)
        if row.status == "queued":
            self._wake.set()
        return Job.of_row(row)

    def find(self, question: Question) -> Job | None:
        row = self.table.latest(question.checked().key())
        return Job.of_row(row) if row else None

    def get(self, job_id: str) -> Job:
        return Job.of_row(self.table.get(job_id))

    # -- this process's runner

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                row = self.table.claim(self.name)
            except Exception:  # the database is away for a moment: try at the next poll
                row = None
            if row is None:
                self._wake.wait(self.POLL_S)
                self._wake.clear()
                continue
            self._run_one(row)

    def _run_one(self, row: JobRow) -> None:
        question = Question(**row.question)
        with self._lock:
            self._latest[row.id] = 0.0
        future = self._pool.submit(_answer_in_worker, row.id, question, row.draft_text)
        sent = -1.0
        while True:
            try:
                status, value, seconds = future.result(timeout=HEARTBEAT_S)
                break
            except FutureTimeout:
                with self._lock:
                    progress = self._latest.get(row.id, 0.0)
                self._beat(row.id, progress if progress != sent else None)
                sent = progress
            except Exception as exc:  # the worker died (killed, out of memory)
                status = "failed"
                value = f"the what-if worker stopped: {type(exc).__name__}: {exc}"
                seconds = time.time() - row.submitted
                break
        with self._lock:
            self._latest.pop(row.id, None)
        try:
            self.table.finish(row.id, self.name, status, value, seconds)
        except Exception as exc:  # e.g. a result the database refuses: say so in the job
            self.table.finish(row.id, self.name, "failed", f"{type(exc).__name__}: {exc}", seconds)

    def _beat(self, job_id: str, progress: float | None) -> None:
        # A missed beat is not a failure: STALE_S allows many.
        with contextlib.suppress(Exception):
            self.table.beat(job_id, self.name, progress)

    def _listen(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            job_id, value = message
            with self._lock:
                if job_id in self._latest:
                    self._latest[job_id] = value

    def shutdown(self) -> None:
        """Stop taking jobs; a job under way goes back to the queue for the next process."""
        self._stop.set()
        self._wake.set()
        # The job under way goes back to the queue, so its worker is stopped rather than left
        # to finish work nobody will read (the executor has no public way before 3.14).
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        # The database gone: the heartbeat's silence says it instead.
        with contextlib.suppress(Exception):
            self.table.give_back(self.name)
        self._queue.put(None)
        for thread in (self._listener, self._runner):
            if thread.is_alive():
                thread.join(timeout=5)
        self._queue.close()
