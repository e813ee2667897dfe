"""Reading policy files, with errors that name the file and the line.

YAML is composed into nodes first so that every value keeps its line; a Pydantic error's
location (``periods -> 2 -> policy -> max_hold_hours``) is then mapped back to that line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scomm.errors import PolicyError
from scomm.policies.schema import FederalRegimes, JurisdictionPolicy

Location = tuple[str | int, ...]


def _construct(node: yaml.Node, path: Location, lines: dict[Location, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader("").construct_object(
                key_node
            )  # scalars only: dates, strings, numbers
            if key in out:
                raise PolicyError(
                    f"line {key_node.start_mark.line + 1}", f"key {key!r} appears twice"
                )
            out[key] = _construct(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)


def read_yaml_with_lines(text: str, where: str) -> tuple[Any, dict[Location, int]]:
    """Parse YAML text; return the data and the line of every value by its path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise PolicyError(f"{where}:{line}", f"not valid YAML: {exc.problem}") from None
    if node is None:
        raise PolicyError(where, "the file is empty")
    lines: dict[Location, int] = {}
    return _construct(node, (), lines), lines


def _line_of(loc: Location, lines: dict[Location, int]) -> int:
    # Pydantic locations use the field names; our aliases ("from", "to") are the YAML keys.
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), 1)


def _validation_error(exc: ValidationError, where: str, lines: dict[Location, int]) -> PolicyError:
    problems = []
    first_line = None
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = _line_of(loc, lines)
        first_line = first_line or line
        field = " -> ".join(str(part) for part in loc) or "file"
        problems.append(f"line {line}: {field}: {error['msg']}")
    return PolicyError(f"{where}:{first_line}", "; ".join(problems))


KnownFips = Callable[[str], bool]


def parse_policy(
    text: str, where: str, known_fips: KnownFips | None = None
) -> JurisdictionPolicy | FederalRegimes:
    """Validate one policy file's text; ``where`` names it in errors."""
    data, lines = read_yaml_with_lines(text, where)
    if not isinstance(data, dict):
        raise PolicyError(f"{where}:1", "a policy file is a mapping with fips, name and periods")
    model: type[JurisdictionPolicy] | type[FederalRegimes]
    model = FederalRegimes if data.get("fips") == "US" else JurisdictionPolicy
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, where, lines) from None
    if (
        isinstance(parsed, JurisdictionPolicy)
        and known_fips is not None
        and not known_fips(parsed.fips)
    ):
        raise PolicyError(f"{where}:{lines.get(('fips',), 1)}", f"unknown FIPS {parsed.fips!r}")
    return parsed


def load_policy_file(
    path: Path, known_fips: KnownFips | None = None
) -> JurisdictionPolicy | FederalRegimes:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(str(path), f"cannot read: {exc.strerror}") from None
    return parse_policy(text, str(path), known_fips)


def _packaged(folder: str) -> Iterable[tuple[str, str]]:
    root = resources.files(__package__).joinpath(folder)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            yield f"scomm/policies/{folder}/{entry.name}", entry.read_text()


@cache
def federal_regimes() -> FederalRegimes:
    """The packaged federal regimes (``policies/federal/regimes.yaml``)."""
    where = "scomm/policies/federal/regimes.yaml"
    text = resources.files(__package__).joinpath("federal/regimes.yaml").read_text()
    parsed = parse_policy(text, where)
    if not isinstance(parsed, FederalRegimes):
        raise PolicyError(where, "the federal regimes file must have fips: US")
    return parsed


@cache
def jurisdiction_policies() -> dict[str, JurisdictionPolicy]:
    """Every packaged jurisdiction policy, by FIPS."""
    out: dict[str, JurisdictionPolicy] = {}
    for where, text in _packaged("jurisdictions"):
        parsed = parse_policy(text, where)
        if not isinstance(parsed, JurisdictionPolicy):
            raise PolicyError(where, "a jurisdiction file must not have fips: US")
        if parsed.fips in out:
            raise PolicyError(where, f"a second file for FIPS {parsed.fips}")
        out[parsed.fips] = parsed
    return out
