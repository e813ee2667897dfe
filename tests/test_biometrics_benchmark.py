"""benchmarks/biometrics.py: how its results file is written."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _benchmark() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # it imports benchmarks/machine.py
    spec = importlib.util.spec_from_file_location(
        "biometrics_benchmark", ROOT / "benchmarks" / "biometrics.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writing_drops_retired_keys_and_keeps_every_part(tmp_path: Path) -> None:
    bench = _benchmark()
    out = tmp_path / "results" / "biometrics.json"
    part = {"eer_percent": {"DB1_B": 2.0}, "measured": {"date_utc": "2026-12-06T00:00:00Z"}}
    results = {"accuracy": part, "rank1_analysis_16_tables": {"100000": {}}, "command": "old"}
    bench._write(out, results)
    written = json.loads(out.read_text())
    assert written == {"accuracy": part}
    assert not set(written) & set(bench.RETIRED_KEYS)
    assert [p.name for p in out.parent.iterdir()] == ["biometrics.json"]  # no temporary left


def test_every_retired_key_is_one_no_part_writes() -> None:
    bench = _benchmark()
    holders = {bench._slot({}, part, 1000)[1] for part in bench.PARTS}
    holders |= {"one_to_n", "rank1_analysis", "screen_layouts"}
    assert not holders & set(bench.RETIRED_KEYS)
