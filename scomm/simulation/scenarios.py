"""Scenarios for the national simulation: the overlays of :mod:`scomm.policies.overlays`,
which every runner shares (kept here under the names the simulation's callers use)."""

from __future__ import annotations

from collections.abc import Sequence

from scomm.policies.overlays import (
    SEPARATOR,
    Overlay,
    Rules,
    Scenario,
    apply,
    baseline_rules,
    parse_overlays,
    scenarios,
)


def parse_names(names: Sequence[str]) -> list[Overlay]:
    """Overlays by spec (``a+b``, ``name@PLACE:DATE``, a YAML file); unknown names are refused
    with the list of known ones."""
    return parse_overlays(list(names))


def rules_for(chosen: Sequence[Overlay]) -> Rules:
    """The rules of history with each overlay applied in order."""
    return apply(chosen)


__all__ = [
    "SEPARATOR",
    "Overlay",
    "Rules",
    "Scenario",
    "baseline_rules",
    "parse_names",
    "rules_for",
    "scenarios",
]
