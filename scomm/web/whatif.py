"""What-if jobs: a question (place, reform, period, runs) run in the background beside its
baseline, with progress, kept by the question's key so that a shared URL reopens the answer
(or reruns it, the same, from the same seed)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
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


@dataclass
class Job:
    id: str
    question: Question
    status: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    error: str | None = None
    result: dict[str, Any] | None = None
    submitted: float = field(default_factory=time.time)
    seconds: float | None = None

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
    """Per run, each output's and share's total over months and counties."""
    totals = outputs.sum(axis=(1, 2))  # [run, output]
    out = {name: totals[:, k] for k, name in enumerate(OUTPUTS)}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (parts, per) in SHARES.items():
            out[name] = sum(out[p] for p in parts) / out[per]
    return out


def answer(question: Question, drafts: Drafts, progress: Any = None) -> dict[str, Any]:
    """Run the question: the reform and the baseline, the same random numbers for both."""
    place = place_of(question.place)
    draft = drafts.policy(question.draft) if question.draft else None
    rules = rules_for_reforms(parse_reform(question.reform), draft)
    options = Options(sample=question.sample or 1.0)
    n_years = len({str(m)[:4] for m in months(question.first, question.last)})
    total = 2 * question.runs * n_years
    common = (place, question.first, question.last)
    base = place_runs(
        *common, baseline_rules(), question.runs, question.seed, options,
        progress=progress, done_before=0, total=total,
    )  # fmt: skip
    reform = place_runs(
        *common, rules, question.runs, question.seed, options,
        progress=progress, done_before=total // 2, total=total,
    )  # fmt: skip
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
            "baseline": band(base[:, :, :, k].sum(axis=2)),
            "reform": band(reform[:, :, :, k].sum(axis=2)),
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


# In a what-if worker process: where its jobs report their progress.
_progress: Any = None


def _start_worker(progress: Any) -> None:
    global _progress
    _progress = progress


def _warm() -> None:
    """Nothing: run once so that the worker has started and imported scomm before a job."""


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
        _progress.put((job_id, value))

    value: Any  # the result, or the failure's message
    try:
        status, value = "done", answer(question, drafts, progress)
    except ScommError as exc:
        status, value = "failed", str(exc)
    except Exception as exc:
        status, value = "failed", f"{type(exc).__name__}: {exc}"
    return status, value, time.perf_counter() - began


class Jobs:
    """The job queue: one job at a time in a worker process of its own, so that a simulation
    never holds the server's interpreter while it serves pages; a question already answered or
    under way is not run twice. Progress comes back over a queue that a thread reads."""

    def __init__(self, drafts: Drafts, workers: int = 1) -> None:
        self.drafts = drafts
        self._jobs: dict[str, Job] = {}
        self._by_question: dict[str, str] = {}
        self._lock = threading.Lock()
        # spawn: the server has threads, which a forked child must not inherit half-held.
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue()
        self._pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(self._queue,)
        )
        self._listener = threading.Thread(target=self._listen, name="what-if progress", daemon=True)
        self._listener.start()

    def warm(self) -> None:
        """Start the worker now (imports take seconds), not on the first question."""
        self._pool.submit(_warm)

    def submit(self, question: Question) -> Job:
        question = question.checked()
        draft_text = self.drafts.text(question.draft) if question.draft else None
        if question.draft:
            self.drafts.policy(question.draft)  # refuse a bad draft now, not in the job
        with self._lock:
            known = self._by_question.get(question.key())
            if known and self._jobs[known].status != "failed":
                return self._jobs[known]
            job = Job(uuid.uuid4().hex[:12], question)
            self._jobs[job.id] = job
            self._by_question[question.key()] = job.id
        future = self._pool.submit(_answer_in_worker, job.id, question, draft_text)
        future.add_done_callback(lambda f: self._finish(job, f))
        return job

    def find(self, question: Question) -> Job | None:
        with self._lock:
            known = self._by_question.get(question.checked().key())
            return self._jobs.get(known) if known else None

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise InputError(f"what-if job {job_id}", "no such job (it may predate a restart)")
        return job

    def _listen(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            job_id, value = message
            job = self._jobs.get(job_id)
            if job is not None and job.status in ("queued", "running"):
                job.status, job.progress = "running", value

    def _finish(self, job: Job, future: Future[tuple[str, Any, float]]) -> None:
        try:
            status, value, seconds = future.result()
        except Exception as exc:  # the worker died (killed, out of memory)
            status, value = "failed", f"the what-if worker stopped: {type(exc).__name__}: {exc}"
            seconds = time.time() - job.submitted
        if status == "done":
            job.result, job.progress = value, 1.0
        else:
            job.error = str(value)
        job.seconds = round(seconds, 2)
        job.status = status  # last: a reader that sees "done" finds the result there

    def shutdown(self) -> None:
        """Stop taking jobs; a job under way ends in its worker, which then exits."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._queue.put(None)
        self._listener.join(timeout=5)
        self._queue.close()
