"""A small world for the web application's tests: an event store with a few cases of two
counties written as events (a detainer honored with its hold, a removal, a no-match), a
recorded run for each county, three accounts, and a national baseline of a few months at a
small sample (seconds, not minutes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from scomm.pipeline.runs import record_run
from scomm.store.events import EventStore, NewEvent
from scomm.web.accounts import add_account
from scomm.web.app import WebConfig
from scomm.web.simulate import NationalSettings

PASSWORD = "correct horse battery staple"
HOME = "48453"  # Travis County TX: the county user's
OTHER = "06085"  # Santa Clara County CA
NATIONAL = NationalSettings(first="2014-01", last="2014-04", seed=3, runs=2, sample=0.002)

UTC = dt.UTC


@dataclass(frozen=True)
class WebWorld:
    config: WebConfig
    home_cases: list[str]
    other_cases: list[str]
    home_run: str
    other_run: str
    held_case: str


def case_events(case_id: str, county: str, start: dt.datetime, kind: str) -> list[NewEvent]:
    at = start

    def ev(step: str, actor: str, hours: float, payload: dict[str, object], basis: str) -> NewEvent:
        nonlocal at
        at = at + dt.timedelta(hours=hours)
        return NewEvent(case_id, step, actor, at, payload, basis)

    out = [
        ev(
            "booking",
            "LEA",
            0,
            {"county_fips": county, "name": "A. Person", "truth": {"status": "unauthorized"}},
            "state arrest law",
        ),
        ev(
            "sib.routed",
            "SIB",
            0.1,
            {"secure_communities": "active", "results_reach_agency": True},
            "state law",
        ),
        ev("ident.response", "IDENT", 0.5, {"match": kind != "no_match"}, "DHS IDENT"),
    ]
    if kind == "no_match":
        out.append(ev("released", "jail", 20, {"reason": "bail"}, "court order"))
        return out
    out += [
        ev("ero.decision", "ERO", 1, {"level": "level_3", "action": "detainer"}, "ICE priorities"),
        ev("detainer.issued", "ERO", 0.2, {"form": "I-247"}, "8 CFR 287.7"),
        ev("jail.detainer_answer", "jail", 1, {"honored": True}, "county policy"),
    ]
    hold_start = at + dt.timedelta(hours=30)
    expires = hold_start + dt.timedelta(hours=48)
    out.append(
        ev(
            "hold.started",
            "jail",
            30,
            {"hold_expires_at": expires.isoformat(), "limit_hours": 48.0, "limits": [[48.0, True]]},
            "8 CFR 287.7(d): 48 hours excluding weekends and holidays",
        )
    )
    out.append(ev("hold.ended", "jail", 20, {"reason": "pickup"}, "8 CFR 287.7(d)"))
    out.append(ev("transfer", "ERO", 0, {}, "8 U.S.C. 1226(a)"))
    if kind == "removed":
        out.append(
            ev("outcome", "court", 24 * 30, {"result": "removal", "level": "level_3"}, "INA 240")
        )
    return out


def make_world(tmp: Path) -> WebWorld:
    url = f"sqlite:///{tmp}/web.sqlite"
    day = dt.datetime(2013, 6, 3, 9, 0, tzinfo=UTC)
    kinds = ["no_match", "held", "removed"]
    home = [f"{HOME}-20130603-{i:06d}" for i in range(3)]
    other = [f"{OTHER}-20130603-{i:06d}" for i in range(3)]
    with EventStore.open(url) as store:
        for cases, county in ((home, HOME), (other, OTHER)):
            for case_id, kind in zip(cases, kinds, strict=True):
                store.append(*case_events(case_id, county, day, kind))
        home_run = record_run(store, HOME, day.date(), 1, 1, home)
        other_run = record_run(store, OTHER, day.date(), 1, 1, other)
        add_account(store, "admin", PASSWORD, "administrator")
        add_account(store, "ana", PASSWORD, "analyst")
        add_account(store, "travis", PASSWORD, "county", HOME)
    config = WebConfig(db_url=url, national=NATIONAL, out_dir=tmp / "out", secret_key="test-key")
    return WebWorld(config, home, other, home_run, other_run, home[1])
