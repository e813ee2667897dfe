"""The mutation corpora, at CI size: every case ends in a clean refusal or a clean accept.

``SCOMM_FUZZ_CASES`` (default 250 per kind) and ``SCOMM_FUZZ_SEED`` (default 12) change the
size and the draw; ``python -m tests.fuzz.run`` runs them for longer.
"""

from __future__ import annotations

import os

import pytest

from tests.fuzz.corpus import KINDS, SEED_DOCUMENTS, Case, Runner, cases, run_cases, tally
from tests.fuzz.mutations import SEEDS, STRUCTURED
from tests.fuzz.targets import TARGETS

COUNT = int(os.environ.get("SCOMM_FUZZ_CASES", "250"))
SEED = int(os.environ.get("SCOMM_FUZZ_SEED", "12"))
TIMEOUT_S = 10.0


def test_a_corpus_is_the_same_for_the_same_seed() -> None:
    first = [c.data for c in cases("policy", 12, seed=3)]
    assert first == [c.data for c in cases("policy", 12, seed=3)]
    # case i does not depend on how many are drawn
    assert [c.data for c in cases("policy", 6, seed=3)] == first[:6]
    assert first != [c.data for c in cases("policy", 12, seed=4)]
    with pytest.raises(ValueError, match="unknown corpus kind"):
        next(cases("gallery", 1, seed=3))


def test_every_kind_has_seeds_mutations_and_one_target() -> None:
    # The target table is the list of kinds: a kind without seed documents or structured
    # mutations would be fuzzed by byte flips alone, or not at all.
    assert set(SEEDS) == set(STRUCTURED) == set(TARGETS) == set(KINDS)
    assert len({t.suffix for t in TARGETS.values()}) == len(TARGETS)
    assert all(t.kind == kind and t.modules for kind, t in TARGETS.items())


def test_the_runner_reports_a_hang_a_crash_and_a_traceback_as_such() -> None:
    # A target that hangs, dies or raises must be reported, not hidden: the runner itself is
    # checked with cases the targets cannot be trusted to produce.
    with Runner() as runner:
        good = next(cases("wsq", 1, seed=1))
        assert runner.run(good).result == "accepted"
        for kind, expected in (("sleep", "hang"), ("exit", "crash"), ("raise", "traceback")):
            case = Case(f"probe-{kind}", 0, 0, "probe", b"")
            outcome = runner.run_probe(case, kind, timeout_s=2.0)
            assert outcome.result == expected, outcome
        assert runner.run(good).result == "accepted"  # a new worker after the hang and crash


@pytest.mark.parametrize("kind", KINDS)
def test_every_case_is_a_clean_refusal_or_a_clean_accept(kind: str) -> None:
    outcomes = list(run_cases(cases(kind, COUNT, SEED), timeout_s=TIMEOUT_S))
    counts = tally(outcomes)[kind]
    bad = [o for o in outcomes if not o.ok]
    report = "\n".join(f"{o.case} [{o.mutation}] {o.result}: {o.message}" for o in bad[:10])
    assert not bad, f"{len(bad)} of {len(outcomes)} {kind} cases went wrong:\n{report}"
    # the unchanged seed documents are accepted, and the corpus does reach the refusals
    assert all(o.result == "accepted" for o in outcomes[:SEED_DOCUMENTS])
    assert counts["clean_refusal"] >= COUNT // 4, counts
