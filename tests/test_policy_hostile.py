"""Hostile policy files: every one is refused with its file, line and problem, quickly, and
`scomm policy check` exits 2 without a traceback."""

from __future__ import annotations

import re
import time
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scomm.cli import app
from scomm.errors import PolicyError
from scomm.policies import safe_yaml
from scomm.policies.load import load_policy_file, parse_policy

GOOD = resources.files("scomm.policies").joinpath("jurisdictions/17031-cook.yaml").read_text()
FIRST_FROM = re.search(r"from: \d{4}-\d\d-\d\d", GOOD)
assert FIRST_FROM is not None
FROM_LINE = GOOD[: FIRST_FROM.start()].count("\n") + 1


def laughs(levels: int) -> str:
    text = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def with_from(value: str) -> str:
    assert FIRST_FROM is not None
    return GOOD.replace(FIRST_FROM.group(), f"from: {value}", 1)


# (name, file bytes, expected line or None for "the file as a whole", words in the problem)
HOSTILE: list[tuple[str, bytes, int | None, str]] = [
    ("feb30", with_from("2013-02-30").encode(), FROM_LINE, "not a valid date"),
    ("month13", with_from("2013-13-01").encode(), FROM_LINE, "month must be in 1..12"),
    ("int_abc", with_from("!!int abc").encode(), FROM_LINE, "'abc' is not a valid integer"),
    ("float_abc", b"fips: !!float abc\n", 1, "not a valid number"),
    ("unknown_tag", with_from("!jail 2013-01-01").encode(), FROM_LINE, "tag '!jail'"),
    ("python_tag", b'fips: !!python/object/apply:os.system ["true"]\n', 1, "!!python/object"),
    ("set_tag", b"fips: !!set {a, b}\n", 1, "tag '!!set'"),
    ("merge_key", b'base: &b {honor: all}\nfips: "17031"\nx:\n  <<: *b\n', 4, "merge keys"),
    ("list_key", b'fips: "17031"\n? [a, b]\n: 1\n', 2, "a key must be a plain value"),
    ("map_key", b'fips: "17031"\n{a: 1}: 2\n', 2, "a key must be a plain value"),
    ("bell", GOOD.replace("name:", "na\x07me:", 1).encode(), 3, "control character U+0007"),
    ("nul", b'fips: "17031"\nname: a\x00b\n', 2, "NUL byte"),
    ("c1", 'fips: "17031"\nname: a\x85b\n'.encode(), 2, "control character U+0085"),
    ("latin1", 'fips: "17031"\nname: Peña\n'.encode("latin-1"), 2, "not UTF-8"),
    ("utf16", GOOD.encode("utf-16"), 1, "UTF-16"),
    ("utf16_no_bom", GOOD.encode("utf-16-le"), 1, "NUL byte at offset 1 (a UTF-16 file?)"),
    ("deep_flow", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", 1, "nested more than 32"),
    (
        "deep_block",
        "".join("  " * i + f"k{i}:\n" for i in range(200)).encode(),
        safe_yaml.MAX_DEPTH,  # the 33rd mapping starts on line 32
        "nested more than 32",
    ),
    ("self_alias", b"a: &x [1, *x]\n", 1, "nested more than 32 levels deep (through aliases)"),
    ("laughs_9", laughs(9).encode(), 1, "aliases are expanded"),
    ("long_list", ("a: [" + "1, " * 20_000 + "]\n").encode(), 1, "more than 5,000 values"),
    ("duplicate_key", GOOD.replace("name:", 'fips: "17031"\nname:', 1).encode(), 3, "twice"),
    ("huge_int", b"fips: " + b"9" * 5000 + b"\n", 1, "not a valid integer"),
    ("empty", b"", None, "empty"),
    ("too_big", b"# padding\n" * 7000, None, "a policy file is at most"),
]


@pytest.mark.parametrize(("name", "data", "line", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_file_is_refused_with_file_line_and_problem(
    tmp_path: Path, name: str, data: bytes, line: int | None, words: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    started = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    elapsed = time.perf_counter() - started
    where = f"{path}:{line}" if line is not None else str(path)
    assert info.value.where == where, info.value
    assert words in info.value.problem
    # a guard against a blow-up (the 9-level bomb used to run out of 4 GB), not a benchmark
    assert elapsed < 5, f"{name} took {elapsed:.1f} s"


def test_billion_laughs_stops_at_the_expansion_limit_not_the_size_limit() -> None:
    small = laughs(3)  # 9**4 = 6,561 strings: over the limit, in a file of a few hundred bytes
    assert len(small) < 400
    with pytest.raises(PolicyError, match="aliases are expanded"):
        parse_policy(small, "lol.yaml")


def test_a_few_aliases_are_still_plain_yaml() -> None:
    data, _ = safe_yaml.read_yaml("a: &x [1, 2]\nb: *x\n", "ok.yaml")
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_a_utf8_bom_is_accepted() -> None:
    policy = parse_policy(b"\xef\xbb\xbf" + GOOD.encode(), "bom.yaml")
    assert policy.fips == "17031"


def test_a_file_over_the_limit_is_not_read_whole() -> None:
    # /dev/zero never ends: the reader must stop at the limit
    with pytest.raises(PolicyError, match="over 65,536 bytes"):
        load_policy_file(Path("/dev/zero"))


def test_a_directory_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "absent.yaml")


def test_policy_check_exits_2_naming_every_file_and_line(tmp_path: Path) -> None:
    paths = []
    for name, data, _line, _words in HOSTILE[:12]:
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_bytes(data)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    # A wide terminal: Rich folds a path longer than the line mid-word (a long temporary
    # directory, pytest-xdist's popen-gwN), and the path is what is being checked for.
    result = CliRunner().invoke(
        app, ["policy", "check", str(good), *map(str, paths)], env={"COLUMNS": "1000"}
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"ok {good}" in result.output
    flat = " ".join(result.output.split())
    for path, (_name, _data, line, _words) in zip(paths, HOSTILE[:12], strict=True):
        assert f"refused {path}:{line}:" in flat
    assert f"{len(paths)} of {len(paths) + 1} file(s) refused" in flat
