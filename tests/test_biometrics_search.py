"""The search observer: every stage of a search inspectable, in the API and on the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _biometric_templates import impression, random_template

from scomm.biometrics.gallery import Gallery, SearchSettings
from scomm.biometrics.search import prepare_probe, shortlist_size
from scomm.biometrics.template import Template
from scomm.errors import GalleryError

SUBJECTS = 16


def finger(subject: int, position: int) -> Template:
    return random_template(1000 * subject + position)


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    g = Gallery.in_memory()
    for s in range(SUBJECTS):
        g.enroll(f"S{s:03d}", {1: finger(s, 1), 2: finger(s, 2)})
    return g


def observed(g: Gallery, probe: dict[int, Template], **kw: Any) -> tuple[list, list]:
    stages: list[tuple[str, dict[str, Any]]] = []
    settings = SearchSettings(**kw)
    found = g.search(probe, 5, settings=settings, observer=lambda n, d: stages.append((n, d)))
    return found, stages


def test_observer_sees_every_stage_and_changes_nothing(gallery: Gallery) -> None:
    probe = {1: impression(finger(4, 1), 4), 2: impression(finger(4, 2), 5)}
    found, stages = observed(gallery, probe)
    assert found == gallery.search(probe, 5)
    names = [name for name, _ in stages]
    assert names == ["probe", "screen", "screen", "match", "match", "fuse", "candidates"]
    data = dict(stages)
    assert set(data["probe"]["fingers"]) == {"1", "2"}
    for name, stage in stages:
        if name == "screen":
            assert stage["screened"] == SUBJECTS  # one template per subject at each position
            assert stage["kept"] == min(SUBJECTS, shortlist_size(SUBJECTS))
            assert stage["shortlist"][0][0] == "S004"  # the mate screens first
        if name == "match":
            assert stage["compared"] == min(SUBJECTS, shortlist_size(SUBJECTS))
            assert stage["best"][0][0] == "S004"
    assert [c["subject_id"] for c in data["candidates"]["candidates"]] == [
        c.subject_id for c in found
    ]
    assert data["candidates"]["candidates"][0]["score"] == found[0].score
    json.dumps(stages)  # plain values only


def test_observer_of_a_subject_shortlist(gallery: Gallery) -> None:
    probe = {1: impression(finger(9, 1), 1), 2: impression(finger(9, 2), 2)}
    found, stages = observed(gallery, probe, shortlist_subjects=3)
    screen = [d for n, d in stages if n == "screen"]
    assert len(screen) == 1 and screen[0]["kept"] == 3 and screen[0]["positions"] == [1, 2]
    assert screen[0]["shortlist"][0][0] == "S009" == found[0].subject_id
    assert all(d["compared"] == 3 for n, d in stages if n == "match")


def test_cli_inspects_a_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scomm.biometrics.formats import write_iso19794
    from scomm.cli import main

    g = Gallery.create(tmp_path / "g")
    for s in range(6):
        g.enroll(f"P{s}", {3: finger(s, 3)})
    probe = tmp_path / "probe.iso"
    probe.write_bytes(write_iso19794(impression(finger(2, 3), 7)))
    out = tmp_path / "search.json"
    args = ["biometrics", "inspect", "--gallery", str(tmp_path / "g"), "--finger", f"3={probe}"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--out", str(out)])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    for stage in ("probe", "screen", "match", "fuse", "candidates"):
        assert stage in printed
    written = json.loads(out.read_text())
    assert [next(iter(s)) for s in written["stages"]][-1] == "candidates"
    assert written["stages"][-1]["candidates"]["candidates"][0]["subject_id"] == "P2"
    with pytest.raises(SystemExit) as done:  # a search without a probe
        main(["biometrics", "inspect", "--gallery", str(tmp_path / "g")])
    assert done.value.code == 2
    assert "--finger" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:  # stages are JSON
        main([*args, "--out", str(tmp_path / "x.png")])
    assert done.value.code == 2


def test_quality_weighs_probe_fingers_in_the_fusion(gallery: Gallery) -> None:
    from dataclasses import replace

    good = impression(finger(3, 1), 3)
    poor = impression(finger(3, 2), 4)
    plain = gallery.search({1: good, 2: poor}, 3)[0]
    assert plain.subject_id == "S003"
    assert plain.score == pytest.approx(sum(plain.finger_scores.values()) / 2)
    weighted = gallery.search({1: replace(good, quality=90), 2: replace(poor, quality=10)}, 3)[0]
    f1, f2 = weighted.finger_scores[1], weighted.finger_scores[2]
    assert weighted.score == pytest.approx((0.9 * f1 + 0.1 * f2) / 1.0)
    # An empty impression of quality 0 takes nothing from the mate's score.
    empty = Template(good.minutiae[:0], good.width, good.height, quality=0)
    alone = gallery.search({1: good}, 3)[0]
    with_empty = gallery.search({1: good, 2: empty}, 3)[0]
    assert with_empty.subject_id == alone.subject_id == "S003"
    assert with_empty.score == pytest.approx(alone.score)


def test_screen_rank_is_the_place_the_screen_gives(gallery: Gallery) -> None:
    probe = prepare_probe({1: impression(finger(7, 1), 3)})
    _found, stages = observed(gallery, {1: impression(finger(7, 1), 3)})
    listed = dict(stages)["screen"]["shortlist"]  # [subject, screen score], best first
    assert listed[0][0] == "S007"
    assert gallery.screen_rank(probe, 1, "S007") == 0
    for subject, score in listed:
        assert gallery.screen_rank(probe, 1, subject) == sum(1 for _s, v in listed if v > score)
    assert gallery.screen_rank(probe, 3, "S007") is None if 3 in probe else True
    with pytest.raises(GalleryError):
        gallery.screen_rank(probe, 1, "nobody")


def test_screen_rank_without_the_position_and_after_a_removal() -> None:
    g = Gallery.in_memory()
    for s in range(6):
        g.enroll(f"S{s:03d}", {1: finger(s, 1)})
    g.enroll("T", {2: finger(9, 2)})
    probe = prepare_probe({1: impression(finger(2, 1), 1)})
    assert g.screen_rank(probe, 1, "S002") == 0
    assert g.screen_rank(probe, 1, "T") is None  # no template at position 1
    before = g.screen_rank(probe, 1, "S003")
    assert before is not None and before >= 1
    g.remove("S002")  # no longer screened, so no longer ahead of the others
    assert g.screen_rank(probe, 1, "S003") == before - 1
    with pytest.raises(GalleryError):
        g.screen_rank(probe, 1, "S002")
