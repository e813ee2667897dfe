"""benchmarks/machine.py: the commit a benchmark's figures were measured on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import machine  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_commit_is_head_and_says_whether_the_code_differs() -> None:
    found = machine.commit()
    assert found is not None
    head = _git("rev-parse", "--short=12", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!*.json")
    assert found == head + ("+changes" if changed else "")
    assert machine.describe()["commit"] == found


def test_commit_outside_a_checkout_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "benchmarks" / "machine.py"
    copy.parent.mkdir()
    shutil.copy(ROOT / "benchmarks" / "machine.py", copy)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", "import machine; print(machine.commit())"],
        cwd=copy.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "None"
