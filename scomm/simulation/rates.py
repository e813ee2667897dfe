"""The biometric outcomes of the national simulation: the engine's own measured error rates."""

from __future__ import annotations

from scomm.simulation.engine import BiometricRates
from scomm.simulation.national import DEFAULT_RATES


def measured_rates() -> BiometricRates:
    return DEFAULT_RATES  # PLACEHOLDER until the operating point lands
