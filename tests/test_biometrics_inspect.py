"""``scomm biometrics inspect``: the extractor's picture of an image, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scomm.biometrics.extraction import extract
from scomm.biometrics.formats import write_iso19794
from scomm.biometrics.images import write_png
from scomm.biometrics.synthetic import impression, master_fingerprint
from scomm.cli import main


@pytest.fixture(scope="module")
def print_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prints") / "print.png"
    write_png(impression(master_fingerprint(7, "left_loop"), seed=3), path)
    return path


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "inspect", *args])
    return int(done.value.code or 0)


def test_inspect_draws_the_print_and_says_what_it_found(
    print_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stages.png"
    assert run([str(print_png), "--out", str(out)]) == 0
    found = len(extract(np.asarray(Image.open(print_png))))
    assert f"{found} minutiae" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.format == "PNG" and min(im.size) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stages.png"]

    # With the stage panels, and a reference template drawn over it.
    reference = tmp_path / "reference.iso"
    reference.write_bytes(write_iso19794(extract(np.asarray(Image.open(print_png)))))
    wide = tmp_path / "panels.png"
    assert run([str(print_png), "--out", str(wide), "--panels", "--reference", str(reference)]) == 0
    with Image.open(wide) as im:
        assert im.size[0] > 3 * im.size[1]


@pytest.mark.parametrize(
    "content",
    [None, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b"not an image at all"],
    ids=["missing", "corrupt PNG", "unknown bytes"],
)
def test_missing_or_corrupt_image_exits_2_naming_it(
    content: bytes | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "booking.png"
    if content is not None:
        image.write_bytes(content)
    out = tmp_path / "out.png"
    assert run([str(image), "--out", str(out)]) == 2
    assert "booking.png" in capsys.readouterr().err
    assert not out.exists()


def test_bad_output_path_exits_2_before_any_work(
    print_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([str(print_png), "--out", str(tmp_path / "stages.svg")]) == 2
    assert ".png" in capsys.readouterr().err
    assert run([str(print_png), "--out", str(tmp_path / "nowhere" / "stages.png")]) == 2
    assert "no such directory" in capsys.readouterr().err
