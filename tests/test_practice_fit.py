"""The dated-practice fit on a county run's parts (scomm.simulation.practice_fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scomm.record import detainers as record
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.practice_fit import (
    BOUNDS,
    SPAN,
    fit,
    jail_declines,
    months_of,
    series,
    with_tied,
)
from scomm.simulation.prisons import prison_detainers


def test_the_two_2011_memos_share_one_practice() -> None:
    tied = with_tied({"practice.act_scale.mandatory_2011": 0.3, "practice.phase_in_days": 9.0})
    assert tied["practice.act_scale.discretion_memo_2011"] == 0.3
    assert tied["practice.phase_in_days"] == 9.0
    assert not any("discretion_memo_2011" in name for name in BOUNDS)


def test_the_fit_finds_a_record_the_surrogate_can_make(tmp_path: Path) -> None:
    priors = Assumptions.priors()
    months = months_of(*SPAN)
    rng = np.random.default_rng(5)
    matched = 20_000 + 3_000 * np.sin(np.arange(len(months)) / 7) + rng.normal(0, 100, len(months))
    screens = np.full(len(months), 500.0)
    truth = {
        "practice.act_scale.threat_levels_2008": 0.7,
        "practice.act_scale.mandatory_2011": 0.5,
        "practice.act_scale.detainer_guidance_2012": 0.3,
        "practice.prison_detainers_per_month.threat_levels_2008": 9000.0,
        "practice.prison_detainers_per_month.mandatory_2011": 7000.0,
        "practice.prison_detainers_per_month.detainer_guidance_2012": 4000.0,
        "practice.phase_in_days": 200.0,
    }
    real = series(truth, months, matched, screens, priors)
    (tmp_path / "detainers").mkdir()
    lines = ["year_month,count", *(f"{m},{round(n)}" for m, n in zip(months, real, strict=True))]
    (tmp_path / record.BY_MONTH_CSV).write_text("\n".join(lines) + "\n")

    best, got_real, model = fit(priors, matched, screens, tmp_path)
    assert got_real == pytest.approx(np.round(real))
    assert np.sqrt(np.mean((model / got_real - 1) ** 2)) < 0.01
    assert all(BOUNDS[k][0] <= v <= BOUNDS[k][1] for k, v in best.items() if k in BOUNDS)


def test_the_declines_tell_the_jails_detainers_from_the_prisons(tmp_path: Path) -> None:
    """ICE's monthly record counts jails and prisons as one: with matches paced as the prison
    door is (season, month length), a regime's act scale and its door trade one for the other. The jails'
    declines by year tell them apart: the joint fit finds the act scale they call for."""
    priors = Assumptions.priors()
    months = months_of(*SPAN)
    doors = {n: 1.0 for n in BOUNDS if n.startswith("practice.prison_detainers_per_month.")}
    paced = prison_detainers(months, priors.with_values(with_tied(doors)).practice)
    matched, screens = 20_000.0 * paced, 500.0 * paced
    declined = 0.01 * (matched + screens) * np.linspace(0.2, 2.0, len(months))
    truth = {
        "practice.act_scale.threat_levels_2008": 0.7,
        "practice.act_scale.mandatory_2011": 0.4,
        "practice.act_scale.detainer_guidance_2012": 0.5,
        "practice.prison_detainers_per_month.threat_levels_2008": 9000.0,
        "practice.prison_detainers_per_month.mandatory_2011": 14000.0,
        "practice.prison_detainers_per_month.detainer_guidance_2012": 4000.0,
        "practice.phase_in_days": 200.0,
    }
    real = series(truth, months, matched, screens, priors)
    jail = jail_declines(truth, months, matched, screens, declined, priors)
    calendar = np.array([int(m[:4]) for m in months])
    (tmp_path / "detainers").mkdir()
    by_month = [f"{m},{round(n)}" for m, n in zip(months, real, strict=True)]
    (tmp_path / record.BY_MONTH_CSV).write_text("year_month,count\n" + "\n".join(by_month) + "\n")
    years = range(2009, 2014)
    totals = {y: round(real[calendar == y].sum()) for y in years}
    (tmp_path / record.BY_YEAR_CSV).write_text(
        "year,count\n" + "".join(f"{y},{n}\n" for y, n in totals.items())
    )
    # Half of each year's detainers have a recorded reason, as in ICE's release.
    reasons = "".join(
        f"{y},{record.DECLINED},{round(jail[calendar == y].sum() / 2)}\n"
        f"{y},Transferred,{round(totals[y] / 2 - jail[calendar == y].sum() / 2)}\n"
        for y in years
    )
    (tmp_path / record.LIFT_REASONS_CSV).write_text("year,lift_reason,count\n" + reasons)

    best, _, model = fit(priors, matched, screens, tmp_path, declined)
    assert np.sqrt(np.mean((model / real - 1) ** 2)) < 0.01
    got = jail_declines(best, months, matched, screens, declined, priors)
    for y in years:
        assert got[calendar == y].sum() == pytest.approx(jail[calendar == y].sum(), rel=0.03)
    assert best["practice.act_scale.mandatory_2011"] == pytest.approx(0.4, abs=0.05)
