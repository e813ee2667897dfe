"""Reading policy files, with errors that name the file and the line.

Every policy file, the packaged ones too, is read by :mod:`scomm.policies.safe_yaml` (bounded
in size, nesting and alias expansion; plain data only), which keeps the line of every value; a
Pydantic error's location (``periods -> 2 -> policy -> max_hold_hours``) is then mapped back to
that line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scomm.errors import PolicyError
from scomm.policies.safe_yaml import Location, read_yaml, read_yaml_file
from scomm.policies.schema import FederalRegimes, JurisdictionPolicy


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
    text: str | bytes, where: str, known_fips: KnownFips | None = None
) -> JurisdictionPolicy | FederalRegimes:
    """Validate one policy file's text or bytes; ``where`` names it in errors."""
    return _validate(*read_yaml(text, where), where, known_fips)


def _validate(
    data: Any, lines: dict[Location, int], where: str, known_fips: KnownFips | None
) -> JurisdictionPolicy | FederalRegimes:
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
    """Validate one policy file, read through the bounded reader (:mod:`.safe_yaml`)."""
    where = str(path)
    return _validate(*read_yaml_file(path, where), where, known_fips)


def _packaged(folder: str) -> Iterable[tuple[str, bytes]]:
    root = resources.files(__package__).joinpath(folder)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            yield f"scomm/policies/{folder}/{entry.name}", entry.read_bytes()


@cache
def federal_regimes() -> FederalRegimes:
    """The packaged federal regimes (``policies/federal/regimes.yaml``)."""
    where = "scomm/policies/federal/regimes.yaml"
    text = resources.files(__package__).joinpath("federal/regimes.yaml").read_bytes()
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
