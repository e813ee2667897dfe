"""Benchmark of a synthetic gallery build: where its time goes, and what it costs on disk.

    .venv/bin/python benchmarks/biometrics_build.py [--parts stages,build] [--templates 20000]
        [--out benchmarks/results/biometrics_build.json]

Figures (printed, and written to the JSON as each part ends, with the command, machine and
date that measured them):

- ``stages``: ``--templates`` distractors (``synthetic.master_template``) made and prepared in
  this process, one core: CPU milliseconds a template for the generation, for the chunk
  kernels (``bulk.prepare_chunk``: cylinders, index codes, the chunk's columns), and for the
  per-template calls they replaced (``matcher.prepare`` + ``screen.index_code``, without the
  concatenation into columns the old path also did), after a warm-up chunk.
- ``build``: ``scomm.biometrics.bulk.build`` of ``--templates`` subjects with one worker
  process, as ``scomm biometrics build GALLERY --synthetic N --workers 1`` runs it: wall and
  CPU time a template (this process and its worker), and the bytes a template of every file
  on disk; the time and disk at 10,000,000 they imply (a projection, stated as one: the build
  is linear in the subjects, its chunks independent).

Targets (issue 14): a build of 10,000,000 in well under an hour on one core (<= 0.3 ms a
template) and <= 35 GB on disk (<= 3,500 bytes a template).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from scomm.biometrics import bulk, matcher, screen  # noqa: E402
from scomm.biometrics.synthetic import Population  # noqa: E402

PARTS = ("stages", "build")
TEN_MILLION = 10_000_000
CHUNK = 2048


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stages(n: int) -> dict[str, Any]:
    population = Population(first_seed=10_000_000)  # seeds no other benchmark draws
    bulk.prepare_chunk(population(0, 64))  # compile (or load the cache) outside the clock
    generate = prepare = single = 0.0
    for first in range(64, 64 + n, CHUNK):
        start = time.process_time()
        subjects = population(first, min(first + CHUNK, 64 + n))
        generate += time.process_time() - start
        start = time.process_time()
        bulk.prepare_chunk(subjects)
        prepare += time.process_time() - start
        start = time.process_time()
        for _sid, fingers in subjects:
            screen.index_code(matcher.prepare(fingers[1]))
        single += time.process_time() - start
    ms = {
        "generation": generate / n * 1e3,
        "prepare_chunk": prepare / n * 1e3,
        "prepare_one_at_a_time_without_packing": single / n * 1e3,
    }
    result = {
        "templates": n,
        "cpu_ms_per_template": {k: round(v, 4) for k, v in ms.items()},
        "generation_plus_prepare_ms": round(ms["generation"] + ms["prepare_chunk"], 4),
        "note": "process CPU time on one core (numba single-threaded kernels); the machine is "
        "shared, so wall times would be noisier than these",
    }
    print(
        f"stages, {n:,} templates: generation {ms['generation']:.3f} ms, prepare_chunk "
        f"{ms['prepare_chunk']:.3f} ms (one at a time, without packing "
        f"{ms['prepare_one_at_a_time_without_packing']:.3f} ms)"
    )
    return result


def build(n: int) -> dict[str, Any]:
    # the import warms the cache of the kernels for the worker too (numba's cache is on disk)
    bulk.prepare_chunk(Population(first_seed=20_000_000)(0, 16))
    root = Path(tempfile.mkdtemp(prefix="scomm-build-bench-"))
    try:
        cpu, start = _cpu_s(), time.perf_counter()
        bulk.build(root / "g", Population(first_seed=1), total=n, workers=1, chunk=CHUNK)
        wall_s, cpu_s = time.perf_counter() - start, _cpu_s() - cpu
        files = {p.name: p.stat().st_size for p in (root / "g").rglob("*") if p.is_file()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    disk = sum(files.values())
    result = {
        "templates": n,
        "workers": 1,
        "wall_s": round(wall_s, 2),
        "cpu_s": round(cpu_s, 2),
        "wall_ms_per_template": round(wall_s / n * 1e3, 4),
        "cpu_ms_per_template": round(cpu_s / n * 1e3, 4),
        "disk_bytes_per_template": round(disk / n, 1),
        "disk_bytes_per_template_by_file": {k: round(v / n, 1) for k, v in sorted(files.items())},
        "projection_10m": {
            "note": "a projection from this build's measured rates, not a measurement",
            "build_h_one_core_cpu": round(cpu_s / n * TEN_MILLION / 3600, 2),
            "build_h_wall_one_worker": round(wall_s / n * TEN_MILLION / 3600, 2),
            "disk_gb": round(disk / n * TEN_MILLION / 1e9, 1),
        },
    }
    print(
        f"build, {n:,} templates, 1 worker: {result['wall_ms_per_template']} ms wall, "
        f"{result['cpu_ms_per_template']} ms CPU a template; {result['disk_bytes_per_template']}"
        f" bytes a template on disk; 10M projected {result['projection_10m']}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--templates", type=int, default=20_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/biometrics_build.json"
    )
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown --parts: {', '.join(sorted(unknown))}")
    if args.templates < 1:
        raise SystemExit(f"--templates must be at least 1, got {args.templates}")
    command = " ".join([Path(sys.executable).name, *sys.argv])
    runners = {"stages": stages, "build": build}
    for part in parts:
        started = time.time()
        figures = runners[part](args.templates)
        figures["measured"] = {
            "command": command,
            "machine": describe(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_s": round(time.time() - started, 1),
        }
        # written as each part ends, into the file as it is now (other parts kept)
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        results[part] = figures
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(args.out)
        print(f"{part}: wrote {args.out}")


if __name__ == "__main__":
    main()
