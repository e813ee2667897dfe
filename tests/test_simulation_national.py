"""The national simulation over the real counties: parallel runs, Monte Carlo intervals,
scenarios against the baseline, calibration, and the files a run writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from _public_data import needs_public_data

from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.engine import OUTPUTS, Options
from scomm.simulation.national import Plan, simulate, simulate_plan

pytestmark = needs_public_data()

SMALL = Options(sample=0.01)


def plan(**kw: object) -> Plan:
    settings: dict[str, object] = {
        "first": "2011-01",
        "last": "2011-03",
        "seed": 3,
        "options": SMALL,
        "assumptions": Assumptions.priors(),
    }
    settings.update(kw)
    return Plan(**settings)  # type: ignore[arg-type]


def test_the_result_does_not_depend_on_how_many_processes_run_it() -> None:
    p = plan(runs=2)
    here = simulate_plan(p, workers=1)["baseline"]
    spread = simulate_plan(p, workers=2)["baseline"]
    assert np.array_equal(here.by_month, spread.by_month)
    assert np.array_equal(here.detail, spread.detail)
    # Two runs are two different draws of the same months.
    assert not np.array_equal(here.by_month[0], here.by_month[1])


def test_ray_local_mode_gives_the_same_result() -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    p = plan()
    here = simulate_plan(p, workers=1)["baseline"]
    try:
        on_ray = simulate_plan(p, ray_address="local")["baseline"]
    finally:
        ray.shutdown()
    assert np.array_equal(here.detail, on_ray.detail)


def test_every_county_is_simulated_and_rollout_gates_ident() -> None:
    runs = simulate("2008-11", "2008-12", 1, SMALL, assumptions=Assumptions.priors())
    bookings = runs.by_county[0, :, OUTPUTS.index("bookings")]
    submitted = runs.by_county[0, :, OUTPUTS.index("submissions_to_ident")]
    assert runs.fips.shape[0] == 3142
    assert bookings.sum() > 1_500_000  # two months of ~13 million admissions a year
    # In late 2008 only the first pilot counties were activated.
    active = np.count_nonzero(submitted)
    assert 0 < active <= 20
    assert submitted.sum() < 0.1 * bookings.sum()


def test_scenario_runs_meet_the_baselines_random_numbers(tmp_path: Path) -> None:
    from scomm.simulation.results import Outcome, differences, estimates

    p = plan(runs=3, scenarios=(("baseline",), ("serious_crimes_only",)))
    results = simulate_plan(p, workers=1)
    outcome = Outcome(p, results, 1.0)
    base, serious = results["baseline"], results["serious_crimes_only"]
    diff = differences(serious, base)
    # Level 1 people are treated the same under both: the difference is exactly zero.
    assert diff["removals_level_1"].low == diff["removals_level_1"].high == 0
    assert diff["detainers_issued"].high < 0
    e = estimates(base)["removals"]
    assert e.low <= e.mean <= e.high and e.low < e.high

    outcome.write_json(tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text())
    assert set(data["scenarios"]) == {"baseline", "serious_crimes_only"}
    assert "difference_from_baseline" in data["scenarios"]["serious_crimes_only"]
    assert data["headline"]["removals"] == pytest.approx(e.mean, rel=1e-6)

    written = outcome.write_parquet(tmp_path / "tables")
    county = pl.read_parquet(tmp_path / "tables" / "county_month.parquet")
    assert {p.name for p in written} == {
        "county_month.parquet",
        "state_month.parquet",
        "national_month.parquet",
        "watched_month.parquet",
    }
    first_run = county.filter(pl.col("scenario") == "baseline")["removals"].sum()
    assert first_run == pytest.approx(base.totals(0)["removals"])
    national = pl.read_parquet(tmp_path / "tables" / "national_month.parquet")
    assert national["run"].n_unique() == 3 and national["month"].n_unique() == 3


def test_cli_runs_scenarios_and_writes_json_parquet_and_report(tmp_path: Path) -> None:
    from scomm.cli import main

    argv = [
        "simulate",
        "--from",
        "2014-01",
        "--to",
        "2014-06",
        "--sample",
        "0.01",
        "--runs",
        "2",
        "--workers",
        "1",
        "--scenario",
        "no_2014_wave",
        "--json",
        str(tmp_path / "run.json"),
        "--parquet",
        str(tmp_path / "tables"),
        "--report",
        str(tmp_path / "report"),
    ]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code in (0, None)
    data = json.loads((tmp_path / "run.json").read_text())
    wave = data["scenarios"]["no_2014_wave"]["difference_from_baseline"]
    # Without the wave, fewer detainers are declined.
    assert wave["detainers_declined"]["mean"] < 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<svg" in page and "Removals by level" in page and "no_2014_wave" in page
    # No CDN, no remote asset: every src and href is local.
    assert not any(f'{attr}="http' in page for attr in ("src", "href", "xlink:href"))
    # Compact maps: PNG, not a multi-megabyte SVG of every county.
    for name in ("policy_in_force.png", "declined_share.png"):
        size = (tmp_path / "report" / name).stat().st_size
        assert 10_000 < size < 600_000, (name, size)
    # Every headline figure by its label, with its definition; the real series beside.
    assert "Share of removals: no conviction or minor" in page
    assert "Removals with no conviction or misdemeanors only" in page
    from scomm.record.detainers import BY_MONTH_CSV
    from scomm.settings import data_dir

    if (data_dir() / BY_MONTH_CSV).is_file():  # the real record beside the model
        assert "The real record beside the model" in page
        assert (tmp_path / "report" / "record" / "national_by_month.png").stat().st_size > 1000
    assert pl.read_parquet(tmp_path / "tables" / "state_month.parquet").height > 0


def test_calibration_moves_toward_the_targets_and_saves_a_readable_fit(tmp_path: Path) -> None:
    from scomm.simulation.calibration import FREE, calibrate, evaluate, write_fit

    # The priors remove far more people than the published figures: with ICE picking up
    # everyone, the fit has to lower the pickup rate to come closer.
    start = Assumptions.priors().with_values({"practice.pickup_rate.default": 1.0})
    free = {"practice.pickup_rate.default": FREE["practice.pickup_rate.default"]}
    fit = calibrate(seed=2, sample=0.002, start=start, free=free, max_evaluations=4, workers=2)
    before = evaluate(simulate("2008-10", "2014-09", 2, Options(sample=0.002), assumptions=start))
    rms_before = float(np.sqrt(np.mean([r.gap**2 for r in before if r.fitted])))
    assert fit.values["practice.pickup_rate.default"] < 0.9
    assert fit.rms_gap < rms_before
    write_fit(fit, tmp_path / "fit.yaml")
    saved = yaml.safe_load((tmp_path / "fit.yaml").read_text())
    assert saved["quality"]["evaluations"] == fit.evaluations
    assert {t["name"] for t in saved["targets"]} >= {
        "removals_by_oct_2010",
        "no_criminal_record_share_2011",
    }
    loaded = load_assumptions(tmp_path / "fit.yaml")
    assert loaded.get("practice.pickup_rate.default") == pytest.approx(
        fit.values["practice.pickup_rate.default"], abs=1e-6
    )
