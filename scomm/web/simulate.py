"""The simulations behind the web pages: the national baseline every aggregate page reads, and
a place (nation, state, county) under a reform beside its baseline for ``/what-if``.

Both call the engine of ``scomm simulate``. The national baseline is its plan, task for task
(the same seed gives the same national figures as ``scomm simulate --sample S --runs N``), with
every run's county detail kept so a county page has its 90% interval too. A what-if runs the
place's counties on one random stream per run, the baseline and the reform on the same stream
(common random numbers: the difference is the rule's).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from scomm.errors import InputError
from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.engine import OUTPUTS, Options
from scomm.simulation.national import (
    Plan,
    counties_in,
    county_table,
    months,
    run_months,
    run_task,
)
from scomm.simulation.rates import measured_rates
from scomm.simulation.results import INTERVAL
from scomm.simulation.scenarios import Rules

# The outputs a county page shows by month (every run is kept for these; float32 to keep a
# national run of every county, month and run within about 60 MB).
COUNTY_OUTPUTS = (
    "bookings",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "holds",
    "hold_bed_days",
    "hold_cost_usd",
    "us_citizens_held",
    "removals",
    "removals_level_1",
    "removals_level_2",
    "removals_level_3",
    "removals_non_criminal",
)
_COUNTY_COLUMNS = np.array([OUTPUTS.index(k) for k in COUNTY_OUTPUTS])

Progress = Callable[[float], None]


def band(values: np.ndarray) -> dict[str, list[float]]:
    """Mean and 90% interval over the first axis (runs), rounded for JSON."""
    low, high = np.percentile(values, INTERVAL, axis=0)
    return {
        "mean": np.round(values.mean(axis=0), 2).tolist(),
        "p5": np.round(low, 2).tolist(),
        "p95": np.round(high, 2).tolist(),
    }


def estimate(values: np.ndarray) -> dict[str, float | None]:
    """One figure over the runs: mean and 90% interval (None where undefined)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "p5": None, "p95": None}
    low, high = np.percentile(finite, INTERVAL)
    return {"mean": float(finite.mean()), "p5": float(low), "p95": float(high)}


# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class Place:
    code: str  # "US", a state's 2-digit FIPS or a county's 5-digit FIPS
    name: str
    index: np.ndarray  # rows of county_table()


@cache
def _states() -> dict[str, tuple[str, str]]:
    """State FIPS -> (postal code, name of a county's state as the data spells it)."""
    from scomm.jurisdictions.counties import load_jurisdictions

    out: dict[str, tuple[str, str]] = {}
    for c in load_jurisdictions().all():
        out.setdefault(c.state_fips, (c.state, c.state))
    return out


def place_of(code: str) -> Place:
    """``US``, a state (``06`` or ``CA``) or a county (``06085``)."""
    from scomm.jurisdictions.counties import load_jurisdictions

    code = code.strip().upper()
    fips, _, _, _ = county_table()
    if code in ("", "US", "NATION"):
        return Place("US", "United States", np.arange(fips.shape[0]))
    by_postal = {postal: s for s, (postal, _) in _states().items()}
    if code in by_postal:
        code = by_postal[code]
    if code.isdigit() and len(code) == 2 and code in _states():
        index = np.flatnonzero(fips.astype("U2") == code)
        return Place(code, _states()[code][0], index)
    if code.isdigit() and len(code) == 5:
        rows = np.flatnonzero(fips == code)
        if rows.size:
            county = load_jurisdictions().get(code)
            return Place(code, f"{county.name}, {county.state}", rows)
    raise InputError(f"place {code!r}", "give US, a state (CA or 06) or a county FIPS code (06085)")


# --------------------------------------------------------------------------- a place's runs


# A what-if stacks its runs side by side as copies of the place's counties, so that one call
# of the engine takes several runs at once: the engine's cost is mostly per month, not per
# booking, for a small place (one county: five runs cost about what two did one after the
# other). Up to this many county rows a call; the nation takes its runs one at a time.
MAX_STACKED_ROWS = 4000


def run_chunks(n_counties: int, runs: int) -> list[range]:
    """The runs each engine call takes together (a pure function of the place's size and
    the number of runs, so the same question always meets the same random numbers)."""
    per = max(1, min(runs, MAX_STACKED_ROWS // max(n_counties, 1)))
    return [range(start, min(start + per, runs)) for start in range(0, runs, per)]


def place_runs(
    place: Place,
    first: str,
    last: str,
    rules: Rules,
    runs: int,
    seed: int,
    options: Options,
    assumptions: Assumptions | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """The place's counties through the months, ``runs`` times: [run, month, county, output].
    The runs of one chunk (:func:`run_chunks`) are copies of the counties on one random
    stream, drawn from ``(seed, chunk)`` whatever the rules, so two calls differing only in
    their rules meet the same random numbers. ``progress(share)`` as each month ends."""
    assumptions = assumptions or load_assumptions()
    rates = measured_rates()
    span = months(first, last)
    n = place.index.shape[0]
    chunks = run_chunks(n, runs)
    out = np.zeros((runs, len(span), n, len(OUTPUTS)))
    steps, step = len(chunks) * len(span), 0
    for c, chunk in enumerate(chunks):
        rng = np.random.default_rng(np.random.SeedSequence([seed, c]))
        index = np.tile(place.index, len(chunk))

        def month_done(m: int) -> None:
            nonlocal step
            step += 1
            if progress:
                progress(step / steps)

        # One call for the whole span: a removal happens months after its booking, maybe in
        # a later year.
        stacked = run_months(
            rng,
            span,
            partial(counties_in, assumptions=assumptions, index=index),
            rules,
            rates,
            assumptions,
            options,
            on_month=month_done,
        )  # [month, copy * county, output]
        out[chunk.start : chunk.stop] = stacked.reshape(
            len(span), len(chunk), n, len(OUTPUTS)
        ).transpose(1, 0, 2, 3)
    return out


# --------------------------------------------------------------------------- the nation


@dataclass(frozen=True)
class NationalSettings:
    first: str = "2008-10"
    last: str = "2014-09"
    seed: int = 1
    runs: int = 5
    sample: float = 0.02

    def key(self) -> str:
        text = json.dumps(self.__dict__, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def command(self) -> str:
        return (
            f"scomm simulate --from {self.first} --to {self.last} --seed {self.seed} "
            f"--runs {self.runs} --sample {self.sample:g}"
        )


@dataclass
class NationalRun:
    settings: NationalSettings
    months: list[str]
    fips: np.ndarray  # U5, county_table() order
    national: np.ndarray  # [run, month, output]
    county: np.ndarray  # [run, month, county, COUNTY_OUTPUTS] float32
    fips_row: dict[str, int] = field(default_factory=dict)
    # Page data computed from this run, by (page, key): a run never changes once loaded.
    memo: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def remember(self, page: str, key: str, compute: Callable[[], Any]) -> Any:
        if (page, key) not in self.memo:
            self.memo[(page, key)] = compute()
        return self.memo[(page, key)]

    def __post_init__(self) -> None:
        self.fips_row = {str(f): i for i, f in enumerate(self.fips)}

    def county_series(self, fips: str) -> np.ndarray:
        """[run, month, COUNTY_OUTPUTS] of one county."""
        return self.county[:, :, self.fips_row[fips], :]

    def save(self, path: Path) -> None:
        from scomm.files import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(
            path,
            lambda tmp: np.savez(
                tmp,
                months=np.array(self.months),
                fips=self.fips,
                national=self.national,
                county=self.county,
            ),
        )

    @classmethod
    def load(cls, path: Path, settings: NationalSettings) -> NationalRun:
        with np.load(path) as data:
            return cls(
                settings,
                [str(m) for m in data["months"]],
                data["fips"],
                data["national"],
                data["county"],
            )


def national_run(settings: NationalSettings, progress: Progress | None = None) -> NationalRun:
    """The baseline of ``scomm simulate`` with these settings, every run's counties kept."""
    plan = Plan(
        settings.first,
        settings.last,
        settings.seed,
        settings.runs,
        (("baseline",),),
        load_assumptions(),
        measured_rates(),
        Options(sample=settings.sample),
    )
    fips, _, _, _ = county_table()
    span = [str(m) for m in months(settings.first, settings.last)]
    tasks = list(plan.tasks())
    county = np.zeros((settings.runs, len(span), fips.shape[0], len(COUNTY_OUTPUTS)), np.float32)
    parts: dict[tuple[int, int], np.ndarray] = {}
    for i, task in enumerate(tasks):
        _, out = run_task(task)
        parts[(task.run, task.group)] = out.sum(axis=1)
        county[task.run][:, task.counties] = out[:, :, _COUNTY_COLUMNS]
        if progress:
            progress((i + 1) / len(tasks))
    national = np.zeros((settings.runs, len(span), len(OUTPUTS)))
    # Summed in group order, as scomm simulate does, so the totals are the same to the bit.
    for (run, _), part in sorted(parts.items()):
        national[run] += part
    return NationalRun(settings, span, fips, national, county)


class NationalLoader:
    """Loads (or computes and caches) the national baseline in a background thread; pages
    ask :attr:`run` and show :attr:`progress` until it is there."""

    def __init__(self, settings: NationalSettings, cache_dir: Path | None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.progress = 0.0
        self.error: str | None = None
        self.run: NationalRun | None = None
        self._thread: threading.Thread | None = None

    @property
    def cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"national-{self.settings.key()}.npz"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name="national-run", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> NationalRun:
        self.start()
        assert self._thread is not None
        self._thread.join(timeout)
        if self.run is None:
            raise RuntimeError(self.error or "the national run is still loading")
        return self.run

    def _load(self) -> None:
        try:
            path = self.cache_path
            if path is None:
                self.run = national_run(self.settings, progress=self._set_progress)
            else:
                # Server processes started together (--workers) compute it once: the first
                # to take the lock computes and saves it, the others then load the file.
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.with_suffix(".lock"), "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if path.exists():
                        self.run = NationalRun.load(path, self.settings)
                    else:
                        run = national_run(self.settings, progress=self._set_progress)
                        run.save(path)
                        self.run = run
            self.progress = 1.0
        except Exception as exc:  # shown on the pages; the server keeps serving the rest
            self.error = f"{type(exc).__name__}: {exc}"

    def _set_progress(self, value: float) -> None:
        self.progress = value


def outputs_index(names: Sequence[str]) -> list[int]:
    return [OUTPUTS.index(n) for n in names]
