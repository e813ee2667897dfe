"""The real record beside the model: ICE's detainers by month, from the FOIA release that
NPR aggregated (``detainers/npr_detainers_by_year_and_month.csv`` in the data directory)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

from scomm.settings import data_dir

FOIA_MONTHLY = Path("detainers/npr_detainers_by_year_and_month.csv")
FOIA_SOURCE = (
    "ICE detainer records released under FOIA (2016), national count by month, as aggregated "
    "by NPR's news apps team (nprapps/sanctuary-cities, export/)"
)


@cache
def foia_detainers_by_month(root: Path | None = None) -> dict[str, int] | None:
    """``{"YYYY-MM": detainers}``, or None where the file is not in the data directory."""
    path = (root or data_dir()) / FOIA_MONTHLY
    if not path.exists():
        return None
    frame = pl.read_csv(path, schema_overrides={"year_month": pl.Utf8, "count": pl.Int64})
    return dict(zip(frame["year_month"].to_list(), frame["count"].to_list(), strict=True))


PA_DETAINERS = Path("detainers/pa_detainers.csv")
_COUNTY_FACILITY_WORDS = ("CNTY", "COUNTY", "CO", "CO.", "DETENTION")


@cache
def _pa_facility_months(root: Path) -> pl.DataFrame | None:
    path = root / PA_DETAINERS
    if not path.exists():
        return None
    frame = pl.read_csv(path, columns=["date", "det_facility"], infer_schema_length=0)
    return frame.select(
        pl.col("det_facility").str.to_uppercase().alias("facility"),
        pl.col("date").str.slice(0, 7).alias("month"),
    )


def pa_county_detainers_by_month(
    county_name: str, root: Path | None = None
) -> dict[str, int] | None:
    """Detainers lodged at a Pennsylvania county's own jail by month: the facilities whose name
    is the county's followed by CNTY, COUNTY, CO or DETENTION ("MONTGOMERY CNTY JAIL, PA").
    None where the file is absent or no facility matches."""
    frame = _pa_facility_months(root or data_dir())
    if frame is None:
        return None
    base = county_name.upper().removesuffix(" COUNTY").strip()
    after = frame["facility"].str.slice(len(base) + 1).str.split(" ").list.first()
    matched = frame.filter(
        frame["facility"].str.starts_with(base + " ") & after.is_in(list(_COUNTY_FACILITY_WORDS))
    )
    if matched.height == 0:
        return None
    counts = matched.group_by("month").len().sort("month")
    return dict(zip(counts["month"].to_list(), counts["len"].to_list(), strict=True))
