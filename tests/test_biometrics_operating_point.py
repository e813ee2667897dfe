"""The engine's measured operating point: the stored figures, the FPIR formula, and a small
measurement with the real engine."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from scomm.biometrics.engine import DEFAULT_THRESHOLD
from scomm.biometrics.operating_point import (
    DATA,
    OperatingPoint,
    false_positive_identification_rate,
    measure,
    operating_point,
    rate,
    write,
)
from scomm.errors import DataError


def test_stored_operating_point_is_the_engines_and_consistent() -> None:
    point = operating_point()
    assert point.threshold == DEFAULT_THRESHOLD
    assert point.probe_fingers == 10
    assert point.gallery_size >= 1000 and point.genuine_searches >= 1000
    assert point.impostor_trials >= 100_000
    assert point.command.startswith("scomm biometrics operating-point")
    for events, trials, value, bound in (
        (point.misses, point.genuine_searches, point.miss_rate, point.miss_rate_is_upper_bound),
        (
            point.false_matches,
            point.impostor_trials,
            point.false_match_rate,
            point.false_match_rate_is_upper_bound,
        ),
    ):
        assert (value, bound) == rate(events, trials)
    assert point.miss_rate < 0.05
    assert point.impostor_score_max < point.threshold
    assert point.impostor_score_mean < point.impostor_score_max < point.genuine_score_median


def test_rate_is_the_rule_of_three_bound_when_nothing_was_seen() -> None:
    assert rate(0, 300) == (0.01, True)
    assert rate(3, 300) == (0.01, False)
    with pytest.raises(ValueError):
        rate(0, 0)


def test_fpir_is_one_minus_the_chance_that_no_subject_matches() -> None:
    point = replace(operating_point(), false_match_rate=1e-3)
    assert point.false_positive_identification_rate(0) == 0.0
    assert point.false_positive_identification_rate(1) == pytest.approx(1e-3, rel=1e-12)
    assert point.false_positive_identification_rate(1000) == pytest.approx(
        1 - 0.999**1000, rel=1e-12
    )
    tiny = replace(point, false_match_rate=1e-15)
    # no cancellation for tiny rates: about N * FMR
    assert tiny.false_positive_identification_rate(10) == pytest.approx(1e-14, rel=1e-9)
    stored = operating_point()
    n = 10_000
    expected = 1 - (1 - stored.false_match_rate) ** n
    assert false_positive_identification_rate(n) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError):
        point.false_positive_identification_rate(-1)


def test_loader_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="operating-point"):
        operating_point(tmp_path / "none.json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"miss_rate": 0.1}))
    with pytest.raises(DataError, match="not an operating point"):
        operating_point(foreign)
    assert DATA.name == "operating_point.json"


def test_a_small_measurement_with_the_real_engine_is_plausible(tmp_path: Path) -> None:
    point = measure(gallery_size=40, impostors_per_search=10, seed=11, command="test")
    assert isinstance(point, OperatingPoint)
    assert point.genuine_searches == 40 and point.impostor_trials == 400
    assert point.miss_rate < 0.2  # the engine finds enrolled people
    assert point.false_matches == 0  # and strangers' prints do not match them
    assert point.false_match_rate_is_upper_bound
    assert math.isclose(point.false_match_rate, 3 / 400)
    assert point.impostor_score_max < DEFAULT_THRESHOLD < point.genuine_score_median
    # Written and read back as it was.
    out = tmp_path / "op.json"
    write(point, out)
    assert operating_point(out) == point
