"""Tests that read the public datasets (``SCOMM_DATA_DIR``) skip with the reason when absent."""

from __future__ import annotations

import pytest

from scomm.settings import data_dir

JURISDICTIONS = [
    "census/co-est2019-alldata.csv",
    "census/acs_noncitizen_pop_county.csv",
    "ice_aor/county_aor.csv",
    "ice_aor/aor_ero_field_office.csv",
    "scomm_rollout/secure_communities_panel.csv.zip",
]


def needs_public_data(paths: list[str] = JURISDICTIONS) -> list[pytest.MarkDecorator]:
    """Marks for a test module that needs these files of the data directory."""
    missing = [p for p in paths if not (data_dir() / p).is_file()]
    return [
        pytest.mark.shared_data,
        pytest.mark.skipif(
            bool(missing), reason=f"public data not in {data_dir()} (SCOMM_DATA_DIR): {missing}"
        ),
    ]
