"""The headline table of a national run, fitted to the terminal (80 columns is the floor).

Each cell holds the mean on one line and its 90% interval, in short numbers (``290k``,
``1.21M``), on the next. Scenario names longer than a column get a letter and a legend under
the table. When the scenarios side by side do not fit the width, the table is split: each part
repeats the figure column and the baseline, so every part reads on its own."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from scomm.outputs import label
from scomm.simulation.results import (
    BASELINE,
    HEADLINE,
    Estimate,
    Outcome,
    differences,
    estimates,
    format_value,
)

NAME_WIDTH = 12  # a scenario name longer than this is shown by a letter, named in the legend
FIGURE_WIDTH = 24  # the figure labels wrap at this width


def short(name: str, value: float) -> str:
    """A value in a few characters: 12.3%, $1.2M, 1.21M, 290k, 4.5k, 17."""
    if math.isnan(value):
        return "n/a"
    if name.endswith("_share"):
        return f"{value:.1%}"
    money = "$" if name.endswith("_usd") else ""
    size = abs(value)
    if size >= 1e9:
        text = f"{value / 1e9:.2f}G"
    elif size >= 1e6:
        text = f"{value / 1e6:.2f}M"
    elif size >= 1e4:
        text = f"{value / 1e3:.0f}k"
    elif size >= 1e3:
        text = f"{value / 1e3:.1f}k"
    else:
        text = f"{value:.0f}"
    return f"-{money}{text[1:]}" if text.startswith("-") else money + text


def cell(name: str, e: Estimate, runs: int, signed: bool = False) -> str:
    """The mean, and under it the interval (with more than one run)."""
    mean = format_value(name, e.mean).replace("$-", "-$")
    if signed and not math.isnan(e.mean) and e.mean >= 0:
        mean = "+" + mean
    if runs == 1:
        return mean
    return f"{mean}\n[{short(name, e.low)}, {short(name, e.high)}]"


@dataclass(frozen=True)
class Column:
    header: str
    cells: tuple[str, ...]  # one per HEADLINE figure


def _keys(names: Sequence[str]) -> dict[str, str]:
    """Each scenario's column header: its name, or a letter when the name is long."""
    letters = iter(string.ascii_uppercase)
    return {n: n if len(n) <= NAME_WIDTH else next(letters, n) for n in names}


def scenario_columns(outcome: Outcome) -> tuple[list[list[Column]], list[str]]:
    """The columns, grouped (the baseline's alone, then each scenario with its difference),
    and the legend of letters."""
    runs = outcome.plan.runs
    base = outcome.baseline
    keys = _keys([n for n in outcome.scenarios if n != BASELINE])
    groups: list[list[Column]] = []
    legend: list[str] = []
    for name, result in outcome.scenarios.items():
        est = estimates(result)
        header = name if name == BASELINE else keys[name]
        group = [Column(header, tuple(cell(k, est[k], runs) for k in HEADLINE))]
        if name != BASELINE and base is not None:
            diff = differences(result, base)
            group.append(
                Column(f"{header}\nvs base", tuple(cell(k, diff[k], runs, True) for k in HEADLINE))
            )
        if header != name:
            legend.append(f"{header} = {name}")
        groups.append(group)
    return groups, legend


def _table(title: str, columns: Sequence[Column]) -> Table:
    table = Table(title=title, show_lines=True)
    table.add_column("figure", max_width=FIGURE_WIDTH, overflow="fold")
    for c in columns:
        table.add_column(c.header, justify="right", no_wrap=True)
    for i, key in enumerate(HEADLINE):
        table.add_row(label(key), *(c.cells[i] for c in columns))
    return table


def _width(console: Console, table: Table) -> int:
    """The width the table asks for, unsqueezed (a measure at the console's width would be
    capped by it)."""
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def headline_tables(groups: list[list[Column]], title: str, console: Console) -> list[Table]:
    """The table, split into parts that fit ``console``'s width: the baseline leads each part,
    then as many scenarios (with their differences) as fit beside it."""
    has_base = bool(groups) and groups[0][0].header == BASELINE
    lead = groups[0] if has_base else []
    rest = groups[1:] if has_base else groups
    if not rest:
        return [_table(title, lead)]
    parts: list[list[Column]] = []
    current: list[Column] = list(lead)
    for group in rest:
        trial = current + group
        if len(current) > len(lead) and _width(console, _table(title, trial)) > console.width:
            parts.append(current)
            current = list(lead) + group
        else:
            current = trial
    parts.append(current)
    many = len(parts) > 1
    return [
        _table(f"{title} ({i} of {len(parts)})" if many else title, part)
        for i, part in enumerate(parts, 1)
    ]


def print_headline(outcome: Outcome, title: str, console: Console) -> None:
    groups, legend = scenario_columns(outcome)
    for table in headline_tables(groups, title, console):
        console.print(table)
    for line in legend:
        console.print(line, highlight=False, markup=False, soft_wrap=False)
