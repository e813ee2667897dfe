"""Each real series beside the model's, as a PNG: the record as a line, the model's mean as a
line and its 90% interval over the runs as a band."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

from scomm.files import write_atomic
from scomm.record.series import Comparison, Row

# Pennsylvania's county-month rows are too many for one picture: the state total and
# Philadelphia are drawn instead (the table and the JSON keep every county).
NOT_DRAWN = frozenset({"pennsylvania_county_month"})


def _x(period: str) -> dt.date | int:
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return dt.date(int(period[:4]), int(period[5:]), 1)
    return int(period.removeprefix("FY"))


def plot(comparison: Comparison, path: Path) -> Path:
    """Draw one comparison into ``path`` (PNG), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: tuple[Row, ...] = comparison.rows
    xs: list[Any] = [_x(r.period) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.fill_between(
        xs,
        [r.low for r in rows],
        [r.high for r in rows],
        color="#9ecae1",
        alpha=0.6,
        label="model, 90% interval",
        step=None,
    )
    ax.plot(
        xs,
        [r.mean for r in rows],
        color="#08519c",
        label="model (" + " + ".join(comparison.model_outputs) + ")",
    )
    ax.plot(
        xs,
        [r.real for r in rows],
        color="#a50f15",
        marker="." if len(rows) < 30 else None,
        label="ICE record",
    )
    if comparison.tolerance is not None and not comparison.share:
        tol = comparison.tolerance
        ax.plot(xs, [r.real * (1 + tol) for r in rows], color="#a50f15", lw=0.6, ls=":")
        ax.plot(
            xs,
            [r.real * (1 - tol) for r in rows],
            color="#a50f15",
            lw=0.6,
            ls=":",
            label=f"record ±{tol:.0%}",
        )
    within = comparison.within_share
    note = (
        ""
        if math.isnan(within)
        else f" ({within:.0%} of periods within ±{comparison.tolerance:.0%})"
    )
    ax.set_title(comparison.title + note, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.text(0, -0.18, comparison.source, transform=ax.transAxes, fontsize=6, color="#555")
    fig.tight_layout()

    def save(tmp: Path) -> None:
        fig.savefig(tmp, format="png")

    write_atomic(path, save)
    plt.close(fig)
    return path


def plot_all(comparisons: list[Comparison], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        plot(c, directory / f"{c.key}.png")
        for c in comparisons
        if c.key not in NOT_DRAWN and c.rows
    ]
