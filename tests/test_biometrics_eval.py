"""FVC protocol: error rates on constructed scores, pair counts, the eval CLI, FVC2002 accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scomm.biometrics.evaluation import error_rates, evaluate, every_impostor_pair, fvc_pairs
from scomm.settings import data_dir

FVC = data_dir() / "fvc2002"
needs_fvc = pytest.mark.skipif(
    not (FVC / "DB1_B").is_dir(), reason=f"FVC2002 not found under {FVC} (set SCOMM_DATA_DIR)"
)


def test_error_rates_on_separable_scores_are_zero() -> None:
    rates = error_rates([0.6, 0.7, 0.9], [0.1, 0.2, 0.3, 0.5])
    assert rates.eer == 0.0 and rates.zero_fmr == 0.0 and rates.fmr100 == 0.0


def test_error_rates_on_a_constructed_overlap() -> None:
    # 100 genuine scores 0.10 ... 1.09 and 100 impostor scores 0.00 ... 0.99: the rates cross
    # near 0.55, where 45 of each lie on the wrong side.
    genuine = 0.10 + np.arange(100) / 100
    impostor = np.arange(100) / 100
    rates = error_rates(genuine, impostor)
    t = rates.eer_threshold
    fmr = np.mean(impostor >= t)
    fnmr = np.mean(genuine < t)
    assert rates.eer == pytest.approx(0.45, abs=0.011)
    # FVC's EER is the middle of the interval between the two thresholds around the crossing.
    assert abs(fmr - fnmr) <= 0.021
    assert min(fmr, fnmr) <= rates.eer <= max(fmr, fnmr)
    # No impostor reaches 1.00: ZeroFMR is the share of genuine scores below it.
    assert rates.zero_fmr == pytest.approx(np.mean(genuine < 0.995), abs=0.011)
    assert rates.fmr100 <= rates.fmr1000 <= rates.zero_fmr


def test_fvc_pairs_count_like_fvc() -> None:
    keys = [(f, i) for f in range(101, 111) for i in range(1, 9)]
    genuine, impostor = fvc_pairs(keys)
    assert len(genuine) == 280 and len(set(genuine)) == 280
    assert len(impostor) == 45
    assert all(a[0] == b[0] and a[1] < b[1] for a, b in genuine)
    assert all(a[1] == 1 and b[1] == 1 and a[0] != b[0] for a, b in impostor)


def test_every_impostor_pair_is_each_pair_of_different_fingers_once() -> None:
    keys = [(f, i) for f in range(101, 111) for i in range(1, 9)]
    pairs = every_impostor_pair(keys)
    # 80 impressions: C(80, 2) pairs, less the 10 x C(8, 2) of one finger's
    assert len(pairs) == 80 * 79 // 2 - 280 == len(set(pairs))
    assert all(a[0] != b[0] and a < b for a, b in pairs)
    assert set(fvc_pairs(keys)[1]) <= set(pairs)


def test_eval_of_a_missing_dataset_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "scomm", "biometrics", "eval", "--dataset", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert "no such dataset" in run.stderr and "Traceback" not in run.stderr


@needs_fvc
def test_eval_cli_writes_json_and_det_on_a_small_fvc_subset(tmp_path: Path) -> None:
    subset = tmp_path / "fvc" / "DB1_B"
    subset.mkdir(parents=True)
    for finger in (101, 102, 103):
        for impression in range(1, 9):
            for suffix in (".tif", ".iso"):
                name = f"{finger}_{impression}{suffix}"
                (subset / name).symlink_to(FVC / "DB1_B" / name)
    out, det = tmp_path / "eval.json", tmp_path / "det.png"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scomm",
            "biometrics",
            "eval",
            "--dataset",
            str(subset.parent),
            "--json",
            str(out),
            "--det",
            str(det),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    db1 = result["sets"]["DB1_B"]
    assert db1["genuine"] == 3 * 28 and db1["impostor"] == 3
    assert len(db1["genuine_scores"]) == 84
    # every impostor pair: C(24, 2) impression pairs less the 3 x C(8, 2) of one finger's
    assert db1["every_impostor"]["impostor"] == 24 * 23 // 2 - 84
    assert 0.0 <= result["average_eer"] <= 1.0
    assert det.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "DB1_B" in run.stdout


@needs_fvc
def test_fvc2002_average_eer_with_commercial_minutiae_meets_the_target() -> None:
    result = evaluate(FVC, "iso")
    assert [s.name for s in result.sets] == ["DB1_B", "DB2_B", "DB3_B", "DB4_B"]
    assert all(s.rates.genuine == 280 and s.rates.impostor == 45 for s in result.sets)
    # Target 3.0%; NBIS bozorth3 gets 5.7% on the same sets.
    assert result.average_eer <= 0.03
    # A mate scores above the impostors' typical score by a wide margin.
    for s in result.sets:
        assert np.median(s.genuine_scores) > 3 * np.max(s.impostor_scores)


def test_det_points_with_zero_rates_sit_at_the_measurable_floor() -> None:
    from scomm.biometrics.evaluation import det_points

    genuine = [0.2, 0.3, 0.4, 0.5]  # 4 genuine comparisons: FNMR floor 1/4
    impostor = [0.0, 0.01, 0.05, 0.1, 0.25]  # 5 impostor comparisons: FMR floor 1/5
    fmr, fnmr = det_points(genuine, impostor)
    assert fmr.min() == pytest.approx(1 / 5) and fnmr.min() == pytest.approx(1 / 4)
    # Above the highest impostor score FMR is 0: drawn at 1/5, not below.
    thresholds = np.unique(genuine + impostor)
    zero_fmr = thresholds > max(impostor)
    assert zero_fmr.any() and np.all(fmr[zero_fmr] == pytest.approx(1 / 5))
    # Measured rates above the floor are kept as they are.
    assert fmr[0] == pytest.approx(1.0) and fnmr[-1] == pytest.approx(3 / 4)
