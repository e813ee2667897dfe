"""benchmarks/biometrics.py: how its results file is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import biometrics as bench  # noqa: E402  (benchmarks/biometrics.py)


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
