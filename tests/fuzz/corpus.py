"""Seeded mutation corpora of hostile inputs, and a runner that says how each case ended.

The reusable API (the unit tests, ``python -m tests.fuzz.run`` and ``benchmarks/faults.py`` use
it)::

    from tests.fuzz.corpus import KINDS, cases, run_case, run_cases, tally

    for case in cases("policy", count=300, seed=12):
        outcome = run_case(case, timeout_s=10.0)
        outcome.result    # clean_refusal, accepted, traceback, hang, half_write, crash,
                          # unclear_refusal (a refusal that does not name the file)
        outcome.ok        # clean_refusal or accepted
        outcome.message   # the refusal, the accept, or the traceback's last lines

Kinds: ``transaction`` (ANSI/NIST-ITL), ``wsq``, ``png``, ``tiff``, ``policy``. Case ``i`` of
``(kind, seed)`` is the same bytes whatever ``count`` is: it is made from the seed documents of
``seed`` and a random generator of its own. The first cases of each corpus are the seed
documents unchanged (they must be accepted: a corpus the targets refuse whole tests nothing).

Cases run in a worker process (a subprocess, limited to :data:`MEMORY_LIMIT` of address space) that
is reused from case to case; a case past its time limit is a ``hang`` (the worker is killed and
a new one started), a worker that dies is a ``crash``. What each kind is handed to is in
:mod:`tests.fuzz.targets`.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.fuzz.mutations import SEEDS, mutate
from tests.fuzz.targets import KINDS

RESULTS = (
    "clean_refusal",
    "accepted",
    "traceback",
    "hang",
    "half_write",
    "crash",
    "unclear_refusal",
)
OK_RESULTS = frozenset({"clean_refusal", "accepted"})
SEED_DOCUMENTS = 4  # per corpus; also the number of unchanged cases at its start
MEMORY_LIMIT = (
    4 << 30
)  # address space of the worker: a blow-up is a MemoryError, not a dead machine
STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Case:
    kind: str
    seed: int
    index: int
    mutation: str  # what was done to the seed document, readable
    data: bytes

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.seed}-{self.index:05d}"


@dataclass(frozen=True)
class Outcome:
    case: str
    kind: str
    result: str  # one of RESULTS
    message: str
    seconds: float
    mutation: str = ""

    @property
    def ok(self) -> bool:
        return self.result in OK_RESULTS


def seed_documents(kind: str, seed: int) -> list[bytes]:
    if kind not in SEEDS:
        raise ValueError(f"unknown corpus kind {kind!r}; kinds: {', '.join(KINDS)}")
    rng = random.Random(f"{kind}:{seed}:seeds")
    return [SEEDS[kind](rng) for _ in range(SEED_DOCUMENTS)]


def cases(kind: str, count: int, seed: int) -> Iterator[Case]:
    """``count`` cases of ``kind``, all drawn from ``seed``."""
    documents = seed_documents(kind, seed)
    for index in range(count):
        base = documents[index % len(documents)]
        if index < len(documents):
            yield Case(kind, seed, index, "unchanged seed document", base)
            continue
        data, mutation = mutate(kind, random.Random(f"{kind}:{seed}:{index}"), base)
        yield Case(kind, seed, index, mutation, data)


# --------------------------------------------------------------------------------------------
# The worker


ROOT = Path(__file__).resolve().parents[2]
_PROBE = "__probe__"


def _probe(what: str) -> None:
    if what == "sleep":
        time.sleep(3600)
    elif what == "exit":
        os._exit(3)
    raise RuntimeError("a probe that raises")


def _serve(requests_fd: int, replies_fd: int, workdir: str) -> None:
    """The worker's loop (run by :class:`Runner` in a ``python -c`` process of its own)."""
    import resource

    from tests.fuzz import targets

    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    targets.warm_up()
    replies.send("ready")
    while True:
        try:
            kind, name, data = requests.recv()
        except EOFError:
            return
        try:
            if kind == _PROBE:
                _probe(name)
            reply = targets.run_target(kind, name, data, Path(workdir))
        except BaseException as exc:  # the very thing being looked for: any escape
            lines = traceback.format_exception(exc)
            reply = ("traceback", "".join(lines[-6:])[-1500:])
        replies.send(reply)


class Runner:
    """A worker process that runs cases one at a time; restarted after a hang or crash.

    The worker is a plain ``python -c`` subprocess (not ``multiprocessing``: a caller's script
    need not guard its main module), talking over two pipes.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="scomm-fuzz-")
        self._log = Path(self._workdir.name) / "worker.log"

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> tuple[Connection, Connection]:
        if self._process is not None and self._process.poll() is None:
            assert self._requests is not None and self._replies is not None
            return self._requests, self._replies
        self._stop()
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()
        cases_dir = Path(self._workdir.name) / "cases"
        cases_dir.mkdir(exist_ok=True)
        program = (
            "from tests.fuzz.corpus import _serve; "
            f"_serve({child_reads}, {child_writes}, {str(cases_dir)!r})"
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", program],
                pass_fds=(child_reads, child_writes),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env=env,
            )
        os.close(child_reads)
        os.close(child_writes)
        self._requests = Connection(parent_writes, readable=False)
        self._replies = Connection(parent_reads, writable=False)
        try:
            ready = self._replies.poll(STARTUP_TIMEOUT_S) and self._replies.recv() == "ready"
        except EOFError:
            ready = False
        if not ready:
            self._stop()
            tail = self._log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the fuzz worker did not start:\n{tail}")
        return self._requests, self._replies

    def _stop(self) -> None:
        for conn in (self._requests, self._replies):
            if conn is not None:
                conn.close()
        self._requests = self._replies = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self._process = None

    def close(self) -> None:
        self._stop()
        self._workdir.cleanup()

    def run(self, case: Case, timeout_s: float = 10.0) -> Outcome:
        return self._exchange((case.kind, case.name, case.data), case, timeout_s)

    def run_probe(self, case: Case, probe: str, timeout_s: float) -> Outcome:
        """Have the worker ``sleep``, ``exit`` or ``raise`` (to test this runner itself)."""
        return self._exchange((_PROBE, probe, b""), case, timeout_s)

    def _exchange(self, request: tuple[str, str, bytes], case: Case, timeout_s: float) -> Outcome:
        requests, replies = self._start()
        started = time.monotonic()
        try:
            requests.send(request)
            if replies.poll(timeout_s):
                result, message = replies.recv()
            else:
                self._stop()
                result, message = "hang", f"no answer within {timeout_s:g} s"
        except (EOFError, BrokenPipeError, ConnectionResetError):
            code = self._process.wait() if self._process is not None else None
            self._stop()
            result, message = "crash", f"the worker died (exit code {code})"
        seconds = time.monotonic() - started
        return Outcome(case.name, case.kind, result, message, round(seconds, 4), case.mutation)


_shared: Runner | None = None


def run_case(case: Case, timeout_s: float = 10.0) -> Outcome:
    """Run one case in the shared worker (started on first use, kept for the next case)."""
    global _shared
    if _shared is None:
        _shared = Runner()
    return _shared.run(case, timeout_s)


def run_cases(corpus: Iterable[Case], timeout_s: float = 10.0) -> Iterator[Outcome]:
    """Run cases in a worker of their own, closed at the end."""
    with Runner() as runner:
        for case in corpus:
            yield runner.run(case, timeout_s)


def tally(outcomes: Iterable[Outcome]) -> dict[str, dict[str, Any]]:
    """Per kind: cases tried, the count of every result, and the slowest case's seconds."""
    counts: dict[str, Counter[str]] = {}
    slowest: dict[str, float] = {}
    for outcome in outcomes:
        counts.setdefault(outcome.kind, Counter())[outcome.result] += 1
        slowest[outcome.kind] = max(slowest.get(outcome.kind, 0.0), outcome.seconds)
    return {
        kind: {
            "cases": sum(counter.values()),
            **{result: counter.get(result, 0) for result in RESULTS},
            "slowest_s": slowest[kind],
        }
        for kind, counter in counts.items()
    }
