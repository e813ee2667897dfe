"""The dated-practice fit on a county run's parts (scomm.simulation.practice_fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scomm.record import detainers as record
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.practice_fit import BOUNDS, SPAN, fit, months_of, series, with_tied


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
