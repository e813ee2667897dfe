"""What the national simulation assumes where no law or dataset says: who is booked
(``population.yaml``), ICE's practice (``policies/federal/practice.yaml``), and the values
``scomm calibrate`` fitted in their place (``calibrated.yaml``).

Every assumption has a dotted name (``population.status.noncitizen_arrest_ratio``,
``practice.act_rate.non_criminal``) so that a calibration, a scenario or a user can set it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scomm.errors import InputError
from scomm.policies.practice import Practice, default_practice
from scomm.population import parameters

CALIBRATED_FILE = "calibrated.yaml"


@dataclass(frozen=True)
class Assumptions:
    population: Mapping[str, Any]  # population.yaml's content
    practice: Practice
    fitted: Mapping[str, float]  # the dotted names a calibration set, with their values

    @classmethod
    def priors(cls) -> Assumptions:
        """The package's files as written, before any fit."""
        return cls(parameters(), default_practice(), {})

    def get(self, name: str) -> float:
        root, *path = name.split(".")
        node: Any = self._root(root, name)
        for key in path:
            if _dated(node) and key not in node and key in _regime_names():
                node = node["default"]  # a regime the dated rate does not name takes its default
                continue
            if not isinstance(node, Mapping) or key not in node:
                raise InputError(name, "no such assumption")
            node = node[key]
        if _dated(node):
            node = node["default"]  # a dated rate named whole: one rate for every regime
        if not isinstance(node, int | float) or isinstance(node, bool):
            raise InputError(name, f"is not a number ({node!r})")
        return float(node)

    def with_values(self, values: Mapping[str, float]) -> Assumptions:
        """A copy with the named assumptions set (each must exist and be a number)."""
        population = copy.deepcopy(dict(self.population))
        practice = self.practice.model_dump()
        for name, value in values.items():
            self.get(name)  # refuses unknown names
            root, *path = name.split(".")
            node = population if root == "population" else practice
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = float(value)
        try:
            fitted_practice = Practice.model_validate(practice)
        except ValueError as exc:
            raise InputError("assumptions", str(exc)) from None
        return Assumptions(population, fitted_practice, {**self.fitted, **values})

    def _root(self, root: str, name: str) -> Any:
        if root == "population":
            return self.population
        if root == "practice":
            return self.practice.model_dump()
        raise InputError(name, "an assumption's name starts with 'population.' or 'practice.'")


def _dated(node: Any) -> bool:
    """Whether ``node`` is a rate dated by federal regime (``practice.ByRegime``)."""
    return isinstance(node, Mapping) and "default" in node


@cache
def _regime_names() -> frozenset[str]:
    from scomm.policies.load import federal_regimes

    return frozenset(p.regime.name for p in federal_regimes().periods)


def read_fit(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(str(path), f"cannot read a calibration file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict):
        raise InputError(str(path), "not a calibration file: no 'parameters' mapping")
    return data


def load_assumptions(path: Path | None = None) -> Assumptions:
    """The priors with a calibration's fitted values: ``path``, or the package's own fit."""
    if path is None:
        return _packaged()
    return Assumptions.priors().with_values(read_fit(path)["parameters"])


@cache
def _packaged() -> Assumptions:
    resource = resources.files(__package__).joinpath(CALIBRATED_FILE)
    if not resource.is_file():
        return Assumptions.priors()
    data = yaml.safe_load(resource.read_text())
    return Assumptions.priors().with_values(data["parameters"])
