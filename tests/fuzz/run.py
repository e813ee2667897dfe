"""Run the fuzzers for longer than CI does.

    python -m tests.fuzz.run --kind policy --seconds 600                 # seeded mutations
    python -m tests.fuzz.run --kind wsq --seconds 600 --engine hypothesis
    python -m tests.fuzz.run --kind tiff --seconds 600 --engine atheris  # pip install atheris

``mutation`` draws cases from :func:`tests.fuzz.corpus.cases` (``--seed``) until the time is up;
``hypothesis`` lets Hypothesis choose the seed document and the mutations, and shrinks a
failing choice to a short one; both run every case in the isolated worker with a per-case time
limit. ``atheris`` is coverage-guided (libFuzzer) and runs the target in this process, starting
from the seed documents; a traceback, crash or timeout stops it with the input saved.
Failing cases go to ``--out`` (default ``fuzz-failures/``) as the input bytes and a ``.txt``
saying what happened. Exit status 1 when any case went wrong.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fuzz.corpus import KINDS, Case, Outcome, Runner, cases, seed_documents, tally
from tests.fuzz.mutations import BYTE_MUTATIONS, STRUCTURED
from tests.fuzz.targets import TARGETS


def _save_failure(out: Path, case: Case, outcome: Outcome) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{case.name}{TARGETS[case.kind].suffix}").write_bytes(case.data)
    (out / f"{case.name}.txt").write_text(
        f"{outcome.result} after {outcome.seconds} s\nmutation: {case.mutation}\n\n"
        f"{outcome.message}\n"
    )


def run_mutation(
    kind: str, seconds: float, seed: int, timeout_s: float, out: Path
) -> list[Outcome]:
    deadline = time.monotonic() + seconds
    outcomes = []
    with Runner() as runner:
        for case in cases(kind, 10**9, seed):
            if time.monotonic() > deadline:
                break
            outcome = runner.run(case, timeout_s)
            outcomes.append(outcome)
            if not outcome.ok:
                _save_failure(out, case, outcome)
                print(f"{case.name}: {outcome.result} [{case.mutation}]", flush=True)
    return outcomes


def run_hypothesis(
    kind: str, seconds: float, seed: int, timeout_s: float, out: Path
) -> list[Outcome]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    documents = seed_documents(kind, seed)
    pool = STRUCTURED[kind] + BYTE_MUTATIONS
    outcomes: list[Outcome] = []
    failures: list[tuple[Case, Outcome]] = []
    deadline = time.monotonic() + seconds
    steps = st.lists(
        st.tuples(st.integers(0, len(pool) - 1), st.integers(0, 2**32 - 1)), min_size=1, max_size=4
    )

    with Runner() as runner:

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(document=st.integers(0, len(documents) - 1), steps=steps)
        def one(document: int, steps: list[tuple[int, int]]) -> None:
            data, done = documents[document], []
            for index, draw in steps:
                if data:
                    data, what = pool[index](random.Random(draw), data)
                    done.append(what)
            case = Case(kind, seed, len(outcomes), "; ".join(done), data)
            outcome = runner.run(case, timeout_s)
            outcomes.append(outcome)
            if not outcome.ok:
                failures.append((case, outcome))
            assert outcome.ok, f"{outcome.result}: {outcome.message}"

        round_ = 0
        while time.monotonic() < deadline:
            try:
                hypothesis_seed(seed * 1000 + round_)(one)()
            except AssertionError as exc:
                case, outcome = failures[-1]  # the shrunk example ran last
                _save_failure(out, case, outcome)
                print(f"hypothesis found: {case.mutation}\n{exc}", flush=True)
                break
            round_ += 1
    return outcomes


def run_atheris(kind: str, seconds: float, seed: int, timeout_s: float, out: Path) -> None:
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris (or use --engine hypothesis)")
    # Coverage is seen only in modules first imported here (the targets import lazily).
    with atheris.instrument_imports():
        for module in TARGETS[kind].modules:
            importlib.import_module(module)
        from scomm.errors import InputError
    from tests.fuzz import targets

    targets.warm_up()
    workdir = Path(tempfile.mkdtemp(prefix="scomm-atheris-"))
    corpus = workdir / "corpus"
    corpus.mkdir()
    documents = seed_documents(kind, seed)
    for i, document in enumerate(documents):
        (corpus / f"seed{i}{TARGETS[kind].suffix}").write_bytes(document)
    counter = iter(range(10**12))

    def one_input(data: bytes) -> None:
        try:
            result, message = targets.run_target(kind, f"case{next(counter)}", data, workdir)
        except InputError:
            return  # a refusal that escaped the target's own handling is still a clean one
        if result not in ("clean_refusal", "accepted"):
            raise RuntimeError(f"{result}: {message}")

    out.mkdir(parents=True, exist_ok=True)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(seconds)}",
            f"-timeout={int(timeout_s)}",
            "-rss_limit_mb=4096",
            f"-seed={seed}",
            f"-max_len={2 * max(len(d) for d in documents)}",
            f"-artifact_prefix={out}/{kind}-",
            str(corpus),
        ],
        one_input,
    )
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--engine", choices=("mutation", "hypothesis", "atheris"), default="mutation"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="per case, seconds")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    args = parser.parse_args(argv)
    if args.engine == "atheris":
        run_atheris(args.kind, args.seconds, args.seed, args.timeout, args.out)
        return 0
    run = run_mutation if args.engine == "mutation" else run_hypothesis
    started = time.monotonic()
    outcomes = run(args.kind, args.seconds, args.seed, args.timeout, args.out)
    summary: dict[str, Any] = tally(outcomes).get(args.kind, {"cases": 0})
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["engine"] = args.engine
    print(json.dumps(summary, indent=1))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
