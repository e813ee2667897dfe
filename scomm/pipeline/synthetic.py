"""A synthetic county: the people booked into its jail over some days, and the agencies'
databases (IAFIS, IDENT, LESC) holding what they would hold about them and about many others.

Everything is drawn from one seed: the same seed gives the same people, prints and bookings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scomm.biometrics.template import Template
from scomm.people import Person, Status
from scomm.pipeline.world import World
from scomm.population import (
    SyntheticBooking,
    admissions_rate,
    booking_of,
    draw_cohort,
    noncitizen_share,
    offense_codes,
    status_table,
)

if TYPE_CHECKING:
    from scomm.simulation.assumptions import Assumptions

if TYPE_CHECKING:
    from scomm.biometrics.engine import BiometricEngine

# The stream of a run's seed that draws what no rule reads (names, dates, document numbers,
# fingerprint seeds), apart from the people's stream, which is the engine's sampler's.
DETAILS_STREAM = 0xD37A115

FINGERS = tuple(range(1, 11))


@dataclass(frozen=True)
class CountyFacts:
    fips: str
    name: str
    state: str
    population: int
    noncitizen_share: float
    activation_date: dt.date | None
    field_office: str


def county_facts(fips: str, year: int) -> CountyFacts:
    """The county's facts from the jurisdictions data (``scomm data check`` tells what is there)."""
    from scomm.jurisdictions.counties import load_jurisdictions

    county = load_jurisdictions().get(fips)
    return CountyFacts(
        fips=county.fips,
        name=county.name,
        state=county.state,
        population=county.population_in(year),
        noncitizen_share=noncitizen_share(county.noncitizen_share_in(year)),
        activation_date=county.activation_date,
        field_office=county.field_office or county.aor or "unknown",
    )


def master_fingers(finger_seed: int, fingers: tuple[int, ...] = FINGERS) -> dict[int, Template]:
    """A person's master prints (generated, SFinGe-style, from the person's seed)."""
    from scomm.biometrics.synthetic import master_template

    return {f: _with_finger(master_template(finger_seed * 16 + f), f) for f in fingers}


def impression_of(
    masters: dict[int, Template], seed: int, fingers: tuple[int, ...]
) -> dict[int, Template]:
    """One capture of the person's prints (Livescan at booking, or an earlier encounter)."""
    from scomm.biometrics.synthetic import template_impression

    return {f: _with_finger(template_impression(masters[f], seed * 16 + f), f) for f in fingers}


def _with_finger(t: Template, finger: int) -> Template:
    return Template(t.minutiae, t.width, t.height, t.dpi, finger)


@dataclass
class SyntheticRun:
    county: CountyFacts
    world: World
    bookings: list[SyntheticBooking]
    booking_fingers: list[dict[int, Template]]

    def booking_messages(self) -> Iterator[tuple[str, dt.datetime, dict[str, Any]]]:
        """(case id, time, payload) of each booking, in booking order."""
        from scomm.pipeline.prints import encode_fingers

        for i, (b, fingers) in enumerate(zip(self.bookings, self.booking_fingers, strict=True)):
            case_id = f"{self.county.fips}-{b.booked_at:%Y%m%d}-{i:06d}"
            yield case_id, b.booked_at, booking_payload(self.county, b, fingers, encode_fingers)


def booking_payload(
    county: CountyFacts,
    b: SyntheticBooking,
    fingers: dict[int, Template],
    encode: Callable[[dict[int, Template]], dict[str, str]],
) -> dict[str, Any]:
    p = b.person
    return {
        "tcn": f"TCN{p.person_id}",
        "ori": f"{county.state}{county.fips[2:]}0000"[:9],
        "county_fips": county.fips,
        "name": p.name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "sex": p.sex,
        "place_of_birth": p.place_of_birth,
        "charges": [{"code": c, "grade": g} for c, g in b.charges],
        "contact": p.contact,
        "citizenship_evidence": [asdict(e) for e in p.citizenship_evidence],
        "custody": {"reason": b.custody_reason, "after_hours": round(b.custody_hours, 3)},
        "interview_status": "us_citizen" if p.status.is_citizen else p.status.value,
        # Known to a synthetic run only, for its report; no step reads it.
        "truth": {"status": p.status.value, "person_id": p.person_id},
        "fingers": encode(fingers),
    }


def county_world(
    county: CountyFacts,
    seed: int,
    fingers_searched: tuple[int, ...],
    iafis: BiometricEngine | None = None,
    ident: BiometricEngine | None = None,
) -> World:
    """The agencies' databases of a synthetic county's run: the given engines (empty, in
    memory, by default), with the county's activation date and field office."""
    world = World.empty(
        activation_date=lambda fips: county.activation_date if fips == county.fips else None,
        field_office_of=lambda fips: county.field_office,
        seed=seed,
        fingers_searched=fingers_searched,
    )
    if iafis is not None:
        world.iafis = iafis
    if ident is not None:
        world.ident = ident
    return world


def booking_rates(county: CountyFacts, start: dt.date, days: int) -> np.ndarray:
    """Expected bookings on each of ``days`` from ``start``: the county's admissions at the
    rate in force that day (:func:`scomm.population.admissions_rate`, season included), as the
    national simulation books them."""
    dates = [start + dt.timedelta(days=d) for d in range(days)]
    return np.array(
        [admissions_rate(d.year, d.month) * county.population / 365.0 for d in dates],
        dtype=np.float64,
    )


def draw_bookings(
    rng: np.random.Generator,
    county: CountyFacts,
    start: dt.date,
    days: int,
    seed: int,
    assumptions: Assumptions | None = None,
) -> list[SyntheticBooking]:
    """The county's bookings over ``days`` from ``start``: rows of
    :func:`scomm.population.draw_cohort`, the sampler the national simulation draws from, with
    the same ``assumptions`` (the package's calibration by default)."""
    from scomm.simulation.assumptions import load_assumptions

    assumptions = assumptions or load_assumptions()
    counts = rng.poisson(booking_rates(county, start, days))
    cohort = draw_cohort(
        rng,
        np.zeros(int(counts.sum()), dtype=np.int64),
        status_table(np.array([county.noncitizen_share]), dict(assumptions.population["status"])),
        offense_codes(),
        assumptions.population,
        assumptions.practice.stale_citizen_record_rate,
    )
    details = np.random.default_rng(np.random.SeedSequence([seed, DETAILS_STREAM]))
    bookings: list[SyntheticBooking] = []
    for day, n in enumerate(counts):
        date = start + dt.timedelta(days=day)
        for _ in range(int(n)):
            i = len(bookings)
            minute = int(details.integers(0, 24 * 60))
            when = dt.datetime.combine(date, dt.time(), dt.UTC) + dt.timedelta(minutes=minute)
            bookings.append(
                booking_of(
                    cohort,
                    i,
                    details,
                    f"{seed}-{i:07d}",
                    when,
                    county.state,
                    assumptions.population,
                )
            )
    return bookings


def build(
    county: CountyFacts,
    start: dt.date,
    days: int,
    seed: int,
    gallery_size: int = 10_000,
    fingers_searched: tuple[int, ...] = (2, 7),
    progress: Callable[[str, int, int], None] | None = None,
    assumptions: Assumptions | None = None,
) -> SyntheticRun:
    """Draw the county's bookings over ``days`` from ``start`` (:func:`draw_bookings`) and fill
    the databases."""
    rng = np.random.default_rng(seed)
    bookings = draw_bookings(rng, county, start, days, seed, assumptions)
    people: list[Person] = [b.person for b in bookings]
    world = county_world(county, seed, fingers_searched)
    if assumptions is not None:
        world.practice = assumptions.practice
    booking_fingers: list[dict[int, Template]] = []
    ident_enrolments: list[tuple[str, dict[int, Template]]] = []
    iafis_enrolments: list[tuple[str, dict[int, Template]]] = []
    total = len(people)
    for i, person in enumerate(people):
        masters = master_fingers(person.finger_seed)
        if person.in_ident:
            fin = f"FIN{person.person_id}"
            ident_enrolments.append((fin, impression_of(masters, person.finger_seed + 1, FINGERS)))
            world.encounters[fin] = [
                {"kind": e.kind.value, "on": e.on.isoformat()} for e in person.encounters
            ]
            world.status_records[fin] = person.status_on_record or person.status
        if person.rap_sheet:
            fbi = f"FBI{person.person_id}"
            iafis_enrolments.append((fbi, impression_of(masters, person.finger_seed + 2, FINGERS)))
            world.rap_sheets[fbi] = [
                {
                    "on": a.on.isoformat(),
                    "code": a.code,
                    "grade": a.grade,
                    "convicted": a.convicted,
                    "sentence_days": a.sentence_days,
                }
                for a in person.rap_sheet
            ]
        booking_fingers.append(impression_of(masters, person.finger_seed + 3, FINGERS))
        if progress:
            progress("people", i + 1, total)
    world.ident.gallery.enroll_many(ident_enrolments)
    world.iafis.gallery.enroll_many(iafis_enrolments)
    enrolled = len(ident_enrolments)
    _fill_with_others(world, rng, gallery_size, enrolled, progress)
    return SyntheticRun(county, world, bookings, booking_fingers)


def _fill_with_others(
    world: World,
    rng: np.random.Generator,
    gallery_size: int,
    already: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """The rest of IDENT and IAFIS: people never booked here, so that searches run against
    realistically large galleries. Their records exist but never match a booking."""
    from scomm.biometrics.gallery import prepare_probe

    others = max(gallery_size - already, 0)
    chunk = 500
    for first in range(0, others, chunk):
        batch = []
        for i in range(first, min(first + chunk, others)):
            masters = master_fingers(int(rng.integers(2**31, 2**40)), world.fingers_searched)
            # One capture on record in both databases: prepared once, enrolled twice.
            batch.append((i, prepare_probe(impression_of(masters, i, world.fingers_searched))))
        world.ident.gallery.enroll_prepared((f"FIN-OTHER-{i:07d}", f) for i, f in batch)
        world.iafis.gallery.enroll_prepared((f"FBI-OTHER-{i:07d}", f) for i, f in batch)
        for i, _ in batch:
            world.status_records[f"FIN-OTHER-{i:07d}"] = Status.LPR
        if progress:
            progress("gallery", min(first + chunk, others), others)
