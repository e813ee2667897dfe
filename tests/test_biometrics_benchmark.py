"""benchmarks/biometrics.py: how its results file is written, and what its rank-1 analysis says."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import biometrics as bench  # noqa: E402  (benchmarks/biometrics.py)

from scomm.settings import data_dir  # noqa: E402


def test_writing_drops_retired_keys_and_keeps_every_part(tmp_path: Path) -> None:
    out = tmp_path / "results" / "biometrics.json"
    part = {"eer_percent": {"DB1_B": 2.0}, "measured": {"date_utc": "2026-12-06T00:00:00Z"}}
    results = {"accuracy": part, "rank1_analysis_16_tables": {"100000": {}}, "command": "old"}
    bench._write(out, results)
    written = json.loads(out.read_text())
    assert written == {"accuracy": part}
    assert not set(written) & set(bench.RETIRED_KEYS)
    assert [p.name for p in out.parent.iterdir()] == ["biometrics.json"]  # no temporary left


def test_every_retired_key_is_one_no_part_writes() -> None:
    results: dict[str, Any] = {}
    written = set()
    for part in bench.PARTS:
        holder, key = bench._slot(results, part, 1000)
        if holder is results:
            written.add(key)
    written |= set(results)  # the 1:N parts' holders, made by _slot itself
    assert "accuracy" in written and "one_to_n" in written
    assert not written & set(bench.RETIRED_KEYS)


@pytest.mark.skipif(
    not (data_dir() / "fvc2002").is_dir(), reason="FVC2002 not in SCOMM_DATA_DIR (scomm data check)"
)
def test_rank1_puts_each_lost_probe_down_to_the_screen_or_the_matcher(tmp_path: Path) -> None:
    fvc = bench.fvc_templates(data_dir() / "fvc2002")
    result: dict[str, Any] = bench.rank1_analysis(fvc, 400, tmp_path / "g")
    kept = result["shortlist_templates"]
    lost = result["lost_probes"]
    assert (
        result["lost"] == len(lost) == result["lost_to_the_screen"] + result["lost_to_the_matcher"]
    )
    assert result["rank1_rate"] == round(1 - len(lost) / result["probes"], 4)
    for miss in lost:
        if miss["cause"] == "screen":  # the mate beat every candidate: it was never compared
            assert miss["mate_score"] > miss["best_other_score"]
            assert miss["mate_screen_rank"] is None or miss["mate_screen_rank"] >= kept
        else:
            assert miss["mate_score"] <= miss["best_other_score"]
    within = list(result["mates_within_shortlist_of"].values())
    assert within == sorted(within)  # a wider shortlist keeps at least as many mates
    # Rank-1 had the screen kept every mate: the probes first now, and those lost to it.
    first_if_kept = result["rank1_rate"] + result["lost_to_the_screen"] / result["probes"]
    assert result["rank1_rate_if_screen_kept_every_mate"] == pytest.approx(first_if_kept, abs=1e-4)


@pytest.mark.skipif(
    not (data_dir() / "fvc2002").is_dir(), reason="FVC2002 not in SCOMM_DATA_DIR (scomm data check)"
)
def test_a_gallery_of_another_populations_distractors_is_not_reused(tmp_path: Path) -> None:
    fvc = bench.fvc_templates(data_dir() / "fvc2002")
    path = tmp_path / "g"
    _, built = bench._build_or_reuse(fvc, 60, path)
    assert built and bench._built_from(path) == bench._population(fvc).name
    assert bench._build_or_reuse(fvc, 60, path)[1] is False  # the same population: reused
    note = tmp_path / "g.build.json"
    recorded = json.loads(note.read_text())
    note.write_text(json.dumps({**recorded, "population": "Population(40 given, syn-1...)"}))
    with pytest.raises(SystemExit, match="another model's"):
        bench._build_or_reuse(fvc, 60, path)
    note.write_text(json.dumps({"build_s": 1.0}))  # a note from before it named the population
    assert bench._build_or_reuse(fvc, 60, path) == (1.0, False)
    assert bench._built_from(path).startswith("not recorded")
