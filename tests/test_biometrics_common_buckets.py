"""The screen's common buckets: found as documented, stored as found, and left out by the screen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scomm.biometrics import common_buckets, screen
from scomm.cli import app
from scomm.errors import InputError


def _codes_filling(buckets_per_code: list[list[int]]) -> np.ndarray:
    codes = np.zeros((len(buckets_per_code), screen.CODE_WORDS), dtype=np.uint64)
    for row, buckets in enumerate(buckets_per_code):
        for b in buckets:
            codes[row, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return codes


def test_most_common_takes_the_buckets_most_codes_fill() -> None:
    codes = _codes_filling([[5, 700, 9000], [5, 700], [5, 31], [5, 700, 32767]])
    assert common_buckets.bucket_frequency(codes)[[5, 700, 31, 9000]].tolist() == [4, 3, 1, 1]
    share = 2 / (screen.CODE_WORDS * 64)
    assert common_buckets.most_common(codes, share) == [5, 700]
    # A tie goes to the lower bucket: 31 before 9000 and 32767.
    assert common_buckets.most_common(codes, 3 / (screen.CODE_WORDS * 64)) == [5, 31, 700]
    with pytest.raises(ValueError, match="share"):
        common_buckets.most_common(codes, 1.0)


def test_the_stored_buckets_are_those_the_stored_command_finds() -> None:
    stored = json.loads(screen.COMMON_BUCKETS_FILE.read_text())
    assert stored["index"] == screen.INDEX_PARAMETERS
    assert len(stored["common"]) == round(stored["share"] * screen.CODE_WORDS * 64)
    # The first 2,000 of its templates already agree on most of them (all 20,000: the file).
    codes = common_buckets.generated_codes(2_000, stored["first_seed"])
    found = set(common_buckets.most_common(codes, stored["share"]))
    assert len(found & set(stored["common"])) > 0.8 * len(found)


def test_the_screen_leaves_common_buckets_out() -> None:
    stored = json.loads(screen.COMMON_BUCKETS_FILE.read_text())
    common, counted_bucket = (
        stored["common"][:40],
        next(b for b in range(screen.CODE_WORDS * 64) if b not in set(stored["common"])),
    )
    code = _codes_filling([common])[0]
    _, size = screen.fold(code, screen.FULL_LAYOUT)
    assert size[0] == 0
    code = _codes_filling([[*common, counted_bucket]])[0]
    folded, size = screen.fold(code, screen.FULL_LAYOUT)
    assert size[0] == 1
    assert folded[counted_bucket >> 6] == np.uint64(1) << np.uint64(counted_bucket & 63)


def test_index_parameters_of_another_index_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "common.json"
    path.write_text(json.dumps({"index": {"tables": 16}, "common": []}))
    with pytest.raises(RuntimeError, match="measure them again"):
        screen._load_counted(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "no readable common buckets"),
        ('{"common": [1, 2]}', "no readable common buckets"),
        (json.dumps({"index": screen.INDEX_PARAMETERS, "common": [5, 10**6]}), "outside"),
        (json.dumps({"index": screen.INDEX_PARAMETERS, "common": [-1]}), "outside"),
    ],
)
def test_a_broken_common_buckets_file_is_refused_by_name(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "common.json"
    path.write_text(text)
    with pytest.raises(RuntimeError, match=problem) as refused:
        screen._load_counted(path)
    assert str(path) in str(refused.value)


def test_the_command_writes_what_it_found(tmp_path: Path) -> None:
    out = tmp_path / "common.json"
    args = ["biometrics", "common-buckets", "--templates", "300", "--share", "0.01"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    codes = common_buckets.generated_codes(300, common_buckets.FIRST_SEED)
    assert written["common"] == common_buckets.most_common(codes, 0.01)
    assert written["command"].startswith("scomm biometrics common-buckets --templates 300")
    refused = CliRunner().invoke(app, [*args[:2], "--share", "1.5", "--out", str(out)])
    assert isinstance(refused.exception, InputError) and "--share" in str(refused.exception)
