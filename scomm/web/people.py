"""Person-level pages, each behind a login: pipeline runs and their cases, one case's
timeline with its hold clock, and the audit log (administrators). A county user sees the runs
and cases of its own county only; every case opened is written to the audit log under the
account before the page is drawn."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from scomm.errors import InputError
from scomm.outputs import term
from scomm.pipeline.case import fold
from scomm.pipeline.outcomes import OUTCOMES, outcome_of
from scomm.pipeline.runs import PipelineRun, get_run, list_runs
from scomm.store.events import EventStore
from scomm.web.accounts import Account, authenticate
from scomm.web.app import Forbidden, check_csrf, ctx, render, require_account
from scomm.web.audit import audit_entries, read_case

router = APIRouter()
PAGE_SIZE = 50
INDEX_READER = "web:case-index"  # the reader the case lists' outcome index reads under


def case_county(store: EventStore, case_id: str) -> str:
    """The county the case was booked in, from its events (never guessed from its id)."""
    county = store.case_county(case_id)
    if county is None:
        raise InputError(f"case {case_id}", "no such case")
    return county


def _may_see_county(account: Account, county: str, what: str) -> None:
    if not account.may_read_case(county):
        raise Forbidden(
            f"{what} is in county {county}; your account ({account.username}) may open the "
            f"records of county {account.county} only"
        )


# --------------------------------------------------------------------------- login


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", title="Log in", next=_safe_next(next), error=None)


def _safe_next(target: str) -> str:
    """Only a path of this site (no open redirect to another)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", tags=["accounts"], summary="Log in (form: username, password, csrf_token)")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, csrf_token)
    c = ctx(request)
    wait = c.limiter.retry_after(username, _client(request))
    if wait > 0:
        return render(
            request, "login.html", 429, title="Log in", next=_safe_next(next),
            error=f"Too many failed attempts: try again in {wait / 60:.0f} minute(s).",
        )  # fmt: skip
    account = authenticate(c.store, username, password)
    if account is None:
        c.limiter.failed(username, _client(request))
        return render(
            request, "login.html", 401, title="Log in", next=_safe_next(next),
            error="Unknown account or wrong password.",
        )  # fmt: skip
    c.limiter.succeeded(username)
    request.session.clear()  # a new session at login: no fixation
    request.session["user"] = account.username
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", tags=["accounts"], summary="Log out (form: csrf_token)")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


# --------------------------------------------------------------------------- runs


def _runs_for(request: Request, account: Account) -> list[PipelineRun]:
    store = ctx(request).store
    return list_runs(store, county=account.county if account.role == "county" else None)


@router.get("/runs", include_in_schema=False)
def runs_page(request: Request) -> Response:
    account = require_account(request)
    runs = [r.to_json() for r in _runs_for(request, account)]
    return render(request, "runs.html", title="Pipeline runs", runs=runs)


@router.get("/api/runs", tags=["cases"], summary="Pipeline runs (login)")
def runs_api(request: Request) -> Any:
    account = require_account(request)
    return [r.to_json() for r in _runs_for(request, account)]


def _outcomes(request: Request, run: PipelineRun) -> dict[str, str]:
    """Each case's outcome, read once per run under the index reader (logged) and kept."""
    c = ctx(request)
    if run.run_id not in c.run_outcomes:
        found = {}
        for case_id, events in c.store.histories(
            run.case_ids, reader=INDEX_READER, purpose=f"outcomes of run {run.run_id}"
        ):
            found[case_id] = outcome_of(fold(case_id, events))
        c.run_outcomes[run.run_id] = found
    return c.run_outcomes[run.run_id]


def run_data(
    request: Request, run_id: str, q: str, outcome: str, day: str, page: int
) -> dict[str, Any]:
    account = require_account(request)
    run = get_run(ctx(request).store, run_id)
    _may_see_county(account, run.county, f"run {run_id}")
    if outcome and outcome not in OUTCOMES:
        raise InputError("outcome", f"{outcome!r}: one of {', '.join(OUTCOMES)}")
    outcomes = _outcomes(request, run)
    rows = []
    for case_id in run.case_ids:
        o = outcomes.get(case_id, "in_progress")
        booked = case_id.split("-")[1] if case_id.count("-") >= 2 else ""
        booked_day = f"{booked[:4]}-{booked[4:6]}-{booked[6:8]}" if len(booked) == 8 else ""
        if q and q.lower() not in case_id.lower():
            continue
        if outcome and o != outcome:
            continue
        if day and booked_day != day:
            continue
        rows.append(
            {"case_id": case_id, "county": run.county, "booked_on": booked_day,
             "outcome": o, "outcome_label": term(o).label}
        )  # fmt: skip
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return {
        "run": run.to_json(),
        "filters": {"q": q, "outcome": outcome, "day": day},
        "outcomes": [
            {
                "name": n,
                "label": term(n).label,
                "definition": term(n).definition,
                "count": counts.get(n, 0),
            }
            for n in OUTCOMES
        ],  # fmt: skip
        "matching": len(rows),
        "page": page,
        "pages": pages,
        "cases": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
    }


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(
    request: Request, run_id: str, q: str = "", outcome: str = "", day: str = "", page: int = 1
) -> Response:
    data = run_data(request, run_id, q, outcome, day, page)
    return render(request, "run.html", title=f"Run {run_id}", data=data)


@router.get("/api/runs/{run_id}", tags=["cases"], summary="A run's cases, searchable (login)")
def run_api(
    request: Request, run_id: str, q: str = "", outcome: str = "", day: str = "", page: int = 1
) -> Any:
    return run_data(request, run_id, q, outcome, day, page)


# --------------------------------------------------------------------------- one case


def _hold_clock(state: Any) -> dict[str, Any] | None:
    """The hold drawn as a bar: from its start to the legal limit, and where it ended."""
    if state.hold_started_at is None or state.hold_expires_at is None:
        return None
    start, limit = state.hold_started_at, state.hold_expires_at
    end = state.hold_ended_at
    span = max(limit, end or limit) - start
    total_s = max(span.total_seconds(), 1.0)

    def at(t: dt.datetime) -> float:
        return round(100 * (t - start).total_seconds() / total_s, 2)

    return {
        "started_at": start.isoformat(),
        "limit_at": limit.isoformat(),
        "ended_at": end.isoformat() if end else None,
        "end_reason": state.hold_end_reason,
        "limit_hours": round((limit - start).total_seconds() / 3600, 1),
        "held_hours": round((end - start).total_seconds() / 3600, 1) if end else None,
        "over_limit": bool(end and end > limit),
        "limit_pct": at(limit),
        "end_pct": at(end) if end else None,
        "days": [
            {"pct": at(d), "label": d.strftime("%a %d %b")} for d in _midnights(start, start + span)
        ],
    }


def _midnights(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    day = (start + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[dt.datetime] = []
    while day < end and len(out) < 14:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


def case_data(request: Request, case_id: str) -> dict[str, Any]:
    account = require_account(request)
    county = case_county(ctx(request).store, case_id)
    _may_see_county(account, county, f"case {case_id}")
    events = read_case(ctx(request).store, case_id, account, "web case page")
    if not events:
        raise InputError(f"case {case_id}", "no such case")
    state = fold(case_id, events)
    outcome = outcome_of(state)
    return {
        "case_id": case_id,
        "county": county,
        "outcome": {
            "name": outcome,
            "label": term(outcome).label,
            "definition": term(outcome).definition,
        },  # fmt: skip
        "read_by": account.username,
        "timeline": [
            {
                "seq": e.seq,
                "occurred_at": e.occurred_at.isoformat(),
                "step": e.step,
                "actor": e.actor,
                "legal_basis": e.legal_basis,
                "payload": {k: v for k, v in e.payload.items() if k not in ("truth", "fingers")},
            }
            for e in events
        ],
        "hold_clock": _hold_clock(state),
    }


@router.get("/cases/{case_id}", include_in_schema=False)
def case_page(request: Request, case_id: str) -> Response:
    data = case_data(request, case_id)
    return render(request, "case.html", title=f"Case {case_id}", data=data)


@router.get("/api/cases/{case_id}", tags=["cases"], summary="One case's timeline (login; logged)")
def case_api(request: Request, case_id: str) -> Any:
    return case_data(request, case_id)


# --------------------------------------------------------------------------- the audit log


def audit_data(request: Request, reader: str, case_id: str) -> dict[str, Any]:
    account = require_account(request)
    if account.role != "administrator":
        raise Forbidden("the audit log is for administrators")
    entries = audit_entries(
        ctx(request).store, reader=reader or None, case_id=case_id or None, limit=500
    )
    return {"filters": {"reader": reader, "case_id": case_id}, "entries": entries}


@router.get("/audit", include_in_schema=False)
def audit_page(request: Request, reader: str = "", case_id: str = "") -> Response:
    return render(
        request, "audit.html", title="Audit log", data=audit_data(request, reader, case_id)
    )


@router.get("/api/audit", tags=["accounts"], summary="Who read which case (administrators)")
def audit_api(request: Request, reader: str = "", case_id: str = "") -> Any:
    return audit_data(request, reader, case_id)
