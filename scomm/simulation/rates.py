"""The biometric outcomes of the national simulation: the engine's own measured error rates.

The simulation does not search prints; it draws each booking's IDENT answer from the rates
``scomm biometrics operating-point`` measured on the pipeline's engine:

- an enrolled person is missed with the measured miss rate (FNIR);
- a person not enrolled is matched to someone else's record with the false positive
  identification rate of a search of IDENT, ``1 - (1 - FMR)^N`` for IDENT's size N
  (``population.yaml``, ``ident.gallery_size``). When the measurement saw no false match, the
  per-subject FMR is the Gaussian tail of the measured impostor scores at the threshold (how
  far below it they lie), not the rule-of-three bound: at N of a hundred million that bound
  would call every stranger a match, which says more about the trial count than the engine.
"""

from __future__ import annotations

import math

from scomm.biometrics.operating_point import OperatingPoint, fpir, operating_point
from scomm.population import parameters
from scomm.simulation.engine import BiometricRates


def per_subject_false_match_rate(point: OperatingPoint) -> float:
    if not point.false_match_rate_is_upper_bound:
        return point.false_match_rate
    if point.impostor_score_sd <= 0:
        return 0.0
    z = (point.threshold - point.impostor_score_mean) / point.impostor_score_sd
    return 0.5 * math.erfc(z / math.sqrt(2))  # the normal tail beyond z standard deviations


def rates_from(point: OperatingPoint, gallery_size: int) -> BiometricRates:
    fmr = per_subject_false_match_rate(point)
    how = "measured" if not point.false_match_rate_is_upper_bound else "impostor-tail estimate"
    return BiometricRates(
        miss_rate=point.miss_rate,
        false_match_rate=fpir(fmr, gallery_size),
        source=(
            f"scomm biometrics operating-point ({point.measured_on}): miss rate "
            f"{point.miss_rate:.4g} over {point.genuine_searches} ten-print searches; "
            f"per-subject FMR {fmr:.3g} ({how}, {point.impostor_trials} impostor trials) "
            f"over IDENT's {gallery_size:,} records"
        ),
    )


def measured_rates() -> BiometricRates:
    """The rates the simulation uses: the package's operating point over IDENT's size."""
    size = int(parameters()["ident"]["gallery_size"])
    return rates_from(operating_point(), size)
