"""County maps: every US county coloured by a per-county value, to PNG or SVG, with a legend.

The shapes are the Census Bureau's 2016 cartographic boundary file (1:500,000) that the
``plotly-geo`` package ships (``_plotly_geo/package_data/cb_2016_us_county_500k``), read with
``pyshp``; its 3,142 counties of the states and DC are exactly scomm's county list. They are
projected (Albers equal-area, the Census Bureau's choice for national maps), Alaska and Hawaii
moved into insets, and simplified by snapping to a grid finer than a pixel (a national map does
not need the 1 million vertices of the file).

PNG goes through matplotlib (Agg, one ``PolyCollection``); SVG is written directly, one
``<path id="c{fips}">`` per county, so that a reader or a test can find a county by its code.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from scomm.errors import DataError, InputError
from scomm.files import write_atomic

Value = str | float | int

# Categories of the policy map, in legend order, with colours (colour-blind safe, Okabe-Ito).
POLICY_COLORS: dict[str, str] = {
    "honors all": "#E9B99B",
    "conditional": "#F0E442",
    "declines": "#0072B2",
    "opted out": "#CC79A7",
    "not activated": "#D9D9D9",
}
NOT_ACTIVATED = "not activated"
NO_DATA_COLOR = "#FFFFFF"
EDGE_COLOR = "#FFFFFF"

# A sequence for ordered categories (activation years), light to dark.
SEQUENTIAL = ["#FDE0C5", "#FAC09E", "#F59E72", "#EE7C4D", "#DD5A2F", "#B8401E", "#8C2D04"]

WIDTH = 1000.0  # SVG user units; the PNG is drawn at the same aspect


# ---------------------------------------------------------------------------------------------
# Projection


def _albers(
    lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float, lat1: float, lat2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Albers equal-area conic on the unit sphere (Snyder, Map Projections, eq. 14-1 to 14-4)."""
    phi, lam = np.radians(lat), np.radians(lon)
    p0, p1, p2, l0 = (math.radians(v) for v in (lat0, lat1, lat2, lon0))
    n = (math.sin(p1) + math.sin(p2)) / 2
    c = math.cos(p1) ** 2 + 2 * n * math.sin(p1)
    rho0 = math.sqrt(c - 2 * n * math.sin(p0)) / n
    rho = np.sqrt(c - 2 * n * np.sin(phi)) / n
    theta = n * (lam - l0)
    return rho * np.sin(theta), rho0 - rho * np.cos(theta)


def _project(state_fips: str, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower 48 in a national Albers; Alaska (shrunk) and Hawaii as insets at the bottom left."""
    if state_fips == "02":
        lon = np.where(lon > 0, lon - 360.0, lon)  # the Aleutians cross the 180th meridian
        return _albers(lon, lat, -154.0, 50.0, 55.0, 65.0)
    if state_fips == "15":
        return _albers(lon, lat, -157.0, 13.0, 8.0, 18.0)
    return _albers(lon, lat, -96.0, 23.0, 29.5, 45.5)


# Where the insets go, in the lower 48's map units (xmin, ymin, width): below California and
# Arizona, where the national map has only the Pacific and Mexico.
INSETS: dict[str, tuple[float, float, float]] = {
    "02": (-0.43, -0.03, 0.20),
    "15": (-0.20, -0.02, 0.07),
}


# ---------------------------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class CountyShapes:
    """Projected, simplified county outlines in map units (y up)."""

    rings: dict[str, list[np.ndarray]]  # fips -> rings, each an (n, 2) array
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax


def shapefile_path() -> Path:
    """The county shapefile (without extension) shipped by plotly-geo."""
    try:
        import _plotly_geo
    except ImportError:
        raise DataError("plotly-geo", "not installed: pip install plotly-geo") from None
    base = Path(_plotly_geo.__file__).parent / "package_data" / "cb_2016_us_county_500k"
    if not base.with_suffix(".shp").is_file():
        raise DataError(str(base), "the county shapefile is missing from plotly-geo")
    return base


def _simplify(ring: np.ndarray, grid: float) -> np.ndarray:
    """Snap to a grid and drop repeated points; a ring that collapses is kept whole (the small
    Virginia cities must still be drawn)."""
    snapped = np.round(ring / grid) * grid
    keep = np.ones(len(snapped), dtype=bool)
    keep[1:] = np.any(np.diff(snapped, axis=0) != 0, axis=1)
    out = snapped[keep]
    return out if len(out) >= 4 else ring


@cache
def county_shapes(grid: float = 0.0008) -> CountyShapes:
    """Every county of the states and DC, projected and simplified (read once)."""
    import shapefile  # pyshp

    reader = shapefile.Reader(str(shapefile_path()))
    rings: dict[str, list[np.ndarray]] = {}
    state_of: dict[str, str] = {}
    for record, shape in zip(
        reader.iterRecords(fields=["STATEFP", "GEOID"]), reader.iterShapes(), strict=True
    ):
        state = record[0]
        if state in ("60", "66", "69", "72", "78"):  # territories: outside scomm's counties
            continue
        points = np.asarray(shape.points, dtype=np.float64)
        parts = [*shape.parts, len(points)]
        out = []
        for start, end in zip(parts, parts[1:], strict=False):
            lon, lat = points[start:end, 0], points[start:end, 1]
            if state == "15" and lon.max() < -161.0:
                # The Northwestern Hawaiian Islands (uninhabited, part of Honolulu County)
                # would stretch the inset over 1,500 km of ocean; the usual maps leave them out.
                continue
            x, y = _project(state, lon, lat)
            out.append(np.column_stack([x, y]))
        rings[record[1]] = out
        state_of[record[1]] = state
    for state, (x0, y0, width) in INSETS.items():
        members = [f for f, s in state_of.items() if s == state]
        pts = np.concatenate([r for f in members for r in rings[f]])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        scale = width / (hi[0] - lo[0])
        for f in members:
            rings[f] = [(r - lo) * scale + (x0, y0) for r in rings[f]]
    # Snap after the insets are placed, so that one grid (finer than a pixel) serves the map.
    rings = {f: [_simplify(r, grid) for r in rs] for f, rs in rings.items()}
    allpts = np.concatenate([r for rs in rings.values() for r in rs])
    xmin, ymin = allpts.min(axis=0)
    xmax, ymax = allpts.max(axis=0)
    return CountyShapes(rings, (float(xmin), float(ymin), float(xmax), float(ymax)))


# ---------------------------------------------------------------------------------------------
# Colours


@dataclass(frozen=True)
class Legend:
    """What each colour means, in order; ``colors`` gives each county's fill."""

    entries: list[tuple[str, str]]  # (label, colour)
    colors: dict[str, str]  # fips -> colour


def categorical_legend(
    values: Mapping[str, Value],
    palette: Mapping[str, str] | None = None,
    order: list[str] | None = None,
) -> Legend:
    labels = order or sorted({str(v) for v in values.values()})
    colors_by_label = dict(palette or {})
    spare = iter(SEQUENTIAL if len(labels) <= len(SEQUENTIAL) else _viridis(len(labels)))
    for label in labels:
        if label not in colors_by_label:
            colors_by_label[label] = next(spare)
    unknown = {str(v) for v in values.values()} - set(colors_by_label)
    if unknown:
        raise InputError("map values", f"categories without a colour: {sorted(unknown)}")
    present = {str(v) for v in values.values()}
    entries = [(label, colors_by_label[label]) for label in labels if label in present]
    return Legend(entries, {f: colors_by_label[str(v)] for f, v in values.items()})


def _viridis(n: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["viridis"]
    return [to_hex(cmap(i / max(n - 1, 1))) for i in range(n)]


def numeric_legend(values: Mapping[str, float], bins: int = 6) -> Legend:
    """Quantile bins of a number (population, share, count), labelled by their ranges."""
    numbers = np.array(list(values.values()), dtype=np.float64)
    edges = np.unique(np.quantile(numbers, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([numbers.min(), numbers.min() + 1])
    palette = _viridis(len(edges) - 1)
    labels = [f"{_fmt(lo)} - {_fmt(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=False)]
    colors = {}
    for fips, v in values.items():
        i = int(np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(palette) - 1))
        colors[fips] = palette[i]
    return Legend(list(zip(labels, palette, strict=True)), colors)


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1 or v == 0:
        return f"{v:.3g}"
    return f"{v:.3f}"


# ---------------------------------------------------------------------------------------------
# Drawing


@dataclass(frozen=True)
class CountyMap:
    """A map ready to save: the shapes, each county's colour and the legend."""

    title: str
    legend: Legend
    shapes: CountyShapes
    note: str = ""

    def color_of(self, fips: str) -> str:
        return self.legend.colors.get(fips, NO_DATA_COLOR)

    def save(self, path: Path) -> Path:
        """Write PNG or SVG (by the file's extension), through a temporary file and a rename."""
        suffix = path.suffix.lower()
        writers: dict[str, Callable[[Path], None]] = {".png": self._png, ".svg": self._svg}
        if suffix not in writers:
            raise InputError(str(path), "the map is written as .png or .svg")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, writers[suffix])
        return path

    # -- geometry shared by both outputs: map units -> image units (y down)

    def _frame(self, width: float) -> tuple[float, float, Callable[[np.ndarray], np.ndarray]]:
        xmin, ymin, xmax, ymax = self.shapes.bounds
        margin = 0.02 * width
        scale = (width - 2 * margin) / (xmax - xmin)
        top = 50.0  # room for the title
        map_height = (ymax - ymin) * scale
        height = top + map_height + 40.0 + 22.0 * math.ceil(len(self.legend.entries) / 3)

        def to_image(points: np.ndarray) -> np.ndarray:
            x = margin + (points[:, 0] - xmin) * scale
            y = top + (ymax - points[:, 1]) * scale
            return np.column_stack([x, y])

        return width, height, to_image

    def pixel_of(self, fips: str, width: float = WIDTH) -> tuple[float, float]:
        """A point well inside a county's largest ring, in the image (x right, y down) of an
        image ``width`` wide: for tests and labels."""
        _, _, to_image = self._frame(width)
        ring = max(self.shapes.rings[fips], key=len)
        return interior_point(to_image(ring))

    def _svg(self, path: Path) -> None:
        width, height, to_image = self._frame(WIDTH)
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}">',
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="#FFFFFF"/>',
            f'<text x="{width / 2:.0f}" y="30" font-family="sans-serif" font-size="20" '
            f'text-anchor="middle">{html.escape(self.title)}</text>',
            f'<g stroke="{EDGE_COLOR}" stroke-width="0.15" stroke-linejoin="round">',
        ]
        for fips in sorted(self.shapes.rings):
            d = " ".join(
                "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in to_image(ring)) + " Z"
                for ring in self.shapes.rings[fips]
            )
            out.append(f'<path id="c{fips}" fill="{self.color_of(fips)}" d="{d}"/>')
        out.append("</g>")
        y0 = height - 22.0 * math.ceil(len(self.legend.entries) / 3) - 10
        for i, (label, color) in enumerate(self.legend.entries):
            x = 40 + (i % 3) * (width - 80) / 3
            y = y0 + 22 * (i // 3)
            out.append(
                f'<rect class="legend" x="{x:.0f}" y="{y:.0f}" width="16" height="16" '
                f'fill="{color}" stroke="#666666" stroke-width="0.5"/>'
            )
            out.append(
                f'<text x="{x + 22:.0f}" y="{y + 13:.0f}" font-family="sans-serif" '
                f'font-size="14">{html.escape(label)}</text>'
            )
        if self.note:
            out.append(
                f'<text x="{width - 10:.0f}" y="{height - 4:.0f}" font-family="sans-serif" '
                f'font-size="10" text-anchor="end" fill="#555555">{html.escape(self.note)}</text>'
            )
        out.append("</svg>")
        path.write_text("\n".join(out) + "\n")

    def _png(self, path: Path) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import PolyCollection
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        width, height, to_image = self._frame(WIDTH)
        dpi = 100
        fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        FigureCanvasAgg(fig)
        # One axes covering the whole figure in image units, so that pixel_of() is exact.
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
        polys, faces = [], []
        for fips in sorted(self.shapes.rings):
            color = self.color_of(fips)
            for ring in self.shapes.rings[fips]:
                polys.append(to_image(ring))
                faces.append(color)
        ax.add_collection(
            PolyCollection(
                polys, facecolors=faces, edgecolors=EDGE_COLOR, linewidths=0.1, antialiased=True
            )
        )
        ax.text(width / 2, 30, self.title, ha="center", va="center", fontsize=15)
        handles = [
            Patch(facecolor=c, edgecolor="#666666", label=label) for label, c in self.legend.entries
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.02),
            ncol=3,
            frameon=False,
            fontsize=11,
        )
        if self.note:
            ax.text(
                width - 10,
                height - 4,
                self.note,
                ha="right",
                va="bottom",
                fontsize=7,
                color="#555555",
            )
        fig.savefig(path, format="png", dpi=dpi, facecolor="white")


def interior_point(ring: np.ndarray) -> tuple[float, float]:
    """The middle of the widest run inside the ring along the horizontal line through its area
    centroid: inside even where the centroid is not (a crescent), and away from the edges."""
    x, y = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    cy = float(((y + y1) * cross).sum() / (6 * area)) if area else float(y.mean())
    # Crossings of the line y = cy (half-open rule, so a vertex on the line counts once).
    spans = (y <= cy) != (y1 <= cy)
    xs = np.sort(x[spans] + (cy - y[spans]) * (x1[spans] - x[spans]) / (y1[spans] - y[spans]))
    if len(xs) < 2:
        return float(x.mean()), float(y.mean())
    starts, ends = xs[0::2], xs[1::2]
    widest = int(np.argmax(ends - starts[: len(ends)]))
    return float((starts[widest] + ends[widest]) / 2), cy


def county_map(
    values: Mapping[str, Value],
    title: str,
    *,
    palette: Mapping[str, str] | None = None,
    order: list[str] | None = None,
    note: str = "",
) -> CountyMap:
    """A map of ``values`` (FIPS -> category or number). Numbers get quantile bins; strings
    get one colour each (``palette`` and ``order`` fix them). Counties absent are white."""
    shapes = county_shapes()
    unknown = sorted(set(values) - set(shapes.rings))
    if unknown:
        raise InputError("map values", f"{len(unknown)} FIPS codes with no shape: {unknown[:5]}")
    numeric = values and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()
    )
    if numeric:
        legend = numeric_legend({f: float(v) for f, v in values.items()})
    else:
        legend = categorical_legend(values, palette, order)
    return CountyMap(title, legend, shapes, note)


# ---------------------------------------------------------------------------------------------
# The two maps of the CLI


def policy_category(fips: str, day: dt.date, activated: bool) -> str:
    """How a county's jail answers a detainer on ``day`` under the state and county layers and
    the federal regime in force: honors all, conditional, declines, opted out, not activated."""
    if not activated:
        return NOT_ACTIVATED
    from scomm.policies.tables import rules_in_force

    rules = rules_in_force(fips, day)
    policies = [layer.policy for layer in rules.layers]
    if rules.regime.opt_out_of_results_allowed and any(not p.receives_results for p in policies):
        return "opted out"
    honors = {p.honor.value for p in policies}
    if "none" in honors:
        return "declines"
    if "conditional" in honors:
        return "conditional"
    return "honors all"


def policy_values(day: dt.date, data_dir: Path | None = None) -> dict[str, str]:
    from scomm.jurisdictions.counties import load_jurisdictions

    counties = load_jurisdictions(data_dir).all()
    return {c.fips: policy_category(c.fips, day, c.activated_by(day)) for c in counties}


def policy_map(day: dt.date, data_dir: Path | None = None) -> CountyMap:
    values = policy_values(day, data_dir)
    return county_map(
        values,
        f"Detainer policy in force, {day.isoformat()}",
        palette=POLICY_COLORS,
        order=list(POLICY_COLORS),
        note="scomm: policies in scomm/policies/jurisdictions (state + county layers); "
        "activation: Secure Communities rollout panel; shapes: Census 2016 (plotly-geo)",
    )


def rollout_values(day: dt.date, data_dir: Path | None = None) -> dict[str, str]:
    from scomm.jurisdictions.counties import load_jurisdictions

    return {
        c.fips: (
            str(c.activation_date.year)
            if c.activation_date and c.activated_by(day)
            else NOT_ACTIVATED
        )
        for c in load_jurisdictions(data_dir).all()
    }


def rollout_map(day: dt.date, data_dir: Path | None = None) -> CountyMap:
    values = rollout_values(day, data_dir)
    years = sorted(v for v in set(values.values()) if v != NOT_ACTIVATED)
    palette = {
        y: SEQUENTIAL[min(i, len(SEQUENTIAL) - 1)]
        for i, y in enumerate([str(y) for y in range(2008, 2014)])
    }
    palette[NOT_ACTIVATED] = POLICY_COLORS[NOT_ACTIVATED]
    active = sum(1 for v in values.values() if v != NOT_ACTIVATED)
    return county_map(
        values,
        f"Secure Communities activation by {day.isoformat()}: {active:,} of {len(values):,} counties",
        palette=palette,
        order=[*years, NOT_ACTIVATED],
        note="activation year; source: Secure Communities rollout panel (White 2016, via Vargas "
        "Nunez et al. 2026); shapes: Census 2016 (plotly-geo)",
    )


# ---------------------------------------------------------------------------------------------
# Shares declined: bins that show the data (no detainers and none declined kept apart from
# the counties that declined some, so that a wave of refusals stands out)

DECLINE_COLORS: dict[str, str] = {
    "no detainers": "#EEEEEE",
    "none declined": "#E9B99B",
    "some declined (under half)": "#9ECAE1",
    "half or more declined": "#4292C6",
    "all declined": "#08519C",
}


def declined_category(issued: float, declined: float) -> str:
    if issued <= 0:
        return "no detainers"
    if declined <= 0:
        return "none declined"
    if declined >= issued:
        return "all declined"
    return "half or more declined" if declined / issued >= 0.5 else "some declined (under half)"


def declined_map(
    issued: Mapping[str, float], declined: Mapping[str, float], title: str, note: str = ""
) -> CountyMap:
    """Counties by the share of detainers their jail declined (:data:`DECLINE_COLORS`);
    grey: no detainer in the period; white: a county with no figure at all."""
    values = {f: declined_category(issued[f], declined.get(f, 0.0)) for f in issued}
    return county_map(values, title, palette=DECLINE_COLORS, order=list(DECLINE_COLORS), note=note)
