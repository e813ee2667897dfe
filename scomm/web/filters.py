"""How numbers read on the pages: counts with thousands separators, shares as percentages,
dollars as dollars, an interval as [low, high]."""

from __future__ import annotations

import json
import math
from typing import Any

from jinja2 import Environment
from markupsafe import Markup


def number(value: float | None, unit: str = "count") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "usd":
        return f"${value:,.0f}"
    if abs(value) < 10 and value != int(value):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def signed(value: float | None, unit: str = "count") -> str:
    if value is None:
        return "n/a"
    text = number(value, unit)
    return text if value < 0 or text.startswith("-") else f"+{text}"


def interval(figure: dict[str, Any], unit: str = "count") -> str:
    low, high = figure.get("p5"), figure.get("p95")
    if low is None or high is None or low == high:
        return ""
    return f"[{number(low, unit)}, {number(high, unit)}]"


def as_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` cannot close it)."""
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return Markup(text)


def install(env: Environment) -> None:
    env.filters["number"] = number
    env.filters["signed"] = signed
    env.filters["interval"] = interval
    env.filters["as_json"] = as_json
