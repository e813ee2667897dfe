"""The public pages (aggregates) and their JSON twins: the nation, counties, what-ifs and the
policy files. Each page's data comes from :mod:`scomm.web.views` or the what-if jobs; the HTML
route renders it and the ``/api/`` route returns it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from scomm.errors import InputError
from scomm.outputs import csv_header
from scomm.simulation.scenarios import scenarios
from scomm.web import views
from scomm.web.app import check_csrf, csrf_token, ctx, render
from scomm.web.maps import KINDS
from scomm.web.simulate import NationalRun
from scomm.web.whatif import DEFAULT_SAMPLE, Question

router = APIRouter()
MAX_DRAFT_BYTES = 256 * 1024


# The big aggregate twins are returned as JSONResponse: their dicts are already plain JSON,
# and FastAPI's encoder would walk every number of them again on every request.


def _national(request: Request) -> NationalRun | None:
    return ctx(request).national.run


def _loading(request: Request) -> Response:
    loader = ctx(request).national
    if loader.error:
        raise InputError("the national run", f"failed: {loader.error}")
    return render(
        request,
        "loading.html",
        503,
        title="Loading the national run",
        progress=loader.progress,
        command=loader.settings.command(),
    )


def _loading_json(request: Request) -> JSONResponse:
    loader = ctx(request).national
    return JSONResponse(
        {"status": "failed" if loader.error else "loading", "progress": loader.progress,
         "error": loader.error},
        status_code=503,
    )  # fmt: skip


def _csv(rows: list[list[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _default_day(run: NationalRun | None) -> dt.date:
    if run is None:
        return dt.date(2014, 9, 30)
    last = dt.date.fromisoformat(run.months[-1] + "-01")
    return (last + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


# --------------------------------------------------------------------------- the nation


@router.get("/", include_in_schema=False)
def nation_page(request: Request, on: str | None = None) -> Response:
    run = _national(request)
    if run is None:
        return _loading(request)
    day = views.parse_day(on, _default_day(run))
    data = views.nation(run)
    return render(
        request, "nation.html", title="The nation", data=data, on=day.isoformat(),
        kinds=KINDS, first_day=run.months[0] + "-01", last_day=_default_day(run).isoformat(),
    )  # fmt: skip


@router.get("/api/nation", tags=["aggregates"], summary="The nation: headline, series, FOIA")
def nation_api(request: Request) -> Any:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    return JSONResponse(views.nation(run))


@router.get("/api/nation/headline.csv", tags=["downloads"], summary="Headline figures as CSV")
def nation_headline_csv(request: Request) -> Response:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    rows: list[list[Any]] = [["figure", "code", "definition", "mean", "p5", "p95"]]
    for f in views.nation(run)["headline"]:
        rows.append([f["label"], f["name"], f["definition"], f["mean"], f["p5"], f["p95"]])
    return _csv(rows, "scomm-nation-headline.csv")


@router.get("/api/nation/series.csv", tags=["downloads"], summary="Monthly series as CSV")
def nation_series_csv(request: Request) -> Response:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    data = views.nation(run)
    return _csv(_series_rows(data), "scomm-nation-by-month.csv")


def _series_rows(data: dict[str, Any]) -> list[list[Any]]:
    header: list[Any] = ["month"]
    for name in data["series"]:
        header += [csv_header(name), f"{name} p5", f"{name} p95"]
    real = data.get("real")
    if real:
        header.append(csv_header(real["name"]))
    rows = [header]
    for i, month in enumerate(data["months"]):
        row: list[Any] = [month]
        for s in data["series"].values():
            row += [s["mean"][i], s["p5"][i], s["p95"][i]]
        if real:
            row.append(real["values"][i])
        rows.append(row)
    return rows


@router.get("/maps/{kind}.png", tags=["aggregates"], summary="A county map on a date (PNG)")
def map_png(request: Request, kind: str, on: str | None = None) -> Response:
    run = _national(request)
    day = views.parse_day(on, _default_day(run))
    data = ctx(request).maps.png(kind, day, run)
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


# --------------------------------------------------------------------------- counties


@router.get("/counties", include_in_schema=False)
def counties_page(request: Request, q: str = "") -> Response:
    run = _national(request)
    if run is None:
        return _loading(request)
    rows = _matching(views.county_index(run), q)
    return render(request, "counties.html", title="Counties", rows=rows[:200], total=len(rows), q=q)


def _matching(rows: list[dict[str, Any]], q: str) -> list[dict[str, Any]]:
    q = q.strip().lower()
    if not q:
        return rows
    return [r for r in rows if q in r["fips"] or q in f"{r['name']}, {r['state']}".lower()]


@router.get("/api/counties", tags=["aggregates"], summary="Every county (search with q)")
def counties_api(request: Request, q: str = "") -> Any:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    return JSONResponse(_matching(views.county_index(run), q))


@router.get("/counties/{fips}", include_in_schema=False)
def county_page(request: Request, fips: str) -> Response:
    run = _national(request)
    if run is None:
        return _loading(request)
    data = views.county(run, fips)
    return render(request, "county.html", title=f"{data['name']}, {data['state']}", data=data)


@router.get("/api/counties/{fips}", tags=["aggregates"], summary="One county")
def county_api(request: Request, fips: str) -> Any:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    return JSONResponse(views.county(run, fips))


@router.get("/api/counties/{fips}/series.csv", tags=["downloads"], summary="A county by month")
def county_series_csv(request: Request, fips: str) -> Response:
    run = _national(request)
    if run is None:
        return _loading_json(request)
    return _csv(_series_rows(views.county(run, fips)), f"scomm-county-{fips}-by-month.csv")


# --------------------------------------------------------------------------- what-if


def _question(
    place: str, reform: str, first: str, last: str, runs: int, seed: int,
    sample: float | None, draft: str | None,
) -> Question:  # fmt: skip
    return Question(place, reform, first, last, runs, seed, sample, draft or None)


WhatIfQuery = dict[str, Any]


@router.get("/what-if", include_in_schema=False)
def what_if_page(
    request: Request,
    place: str = "",
    reform: Annotated[list[str] | None, Query()] = None,
    limit_to: str = "",
    limit_from: str = "",
    first: str = "2008-10",
    last: str = "2014-09",
    runs: int = 5,
    seed: int = 1,
    sample: str = "",
    draft: str | None = None,
) -> Response:
    """The form; with a place and a reform in the URL, the job (started if new)."""
    names = _reform_text(reform or [], limit_to, limit_from)
    share = _sample(sample)
    form = {
        "place": place, "reforms": [n.split("@")[0] for n in names.split("+") if n],
        "first": first,
        "last": last, "runs": runs, "seed": seed, "sample": share, "draft": draft,
    }  # fmt: skip
    known = list(scenarios().values())
    job = None
    if place and (names or draft):
        question = _question(place, names, first, last, runs, seed, share, draft).checked()
        canonical = question.query()
        if urlencode(canonical) != request.url.query:
            return RedirectResponse(f"/what-if?{urlencode(canonical)}", status_code=303)
        job = ctx(request).jobs.submit(question)
    return render(
        request, "whatif.html", title="What if", form=form, scenarios=known, job=job,
        defaults=DEFAULT_SAMPLE, share_url=str(request.url),
    )  # fmt: skip


def _sample(text: str) -> float | None:
    """The form's sample: blank for the place's default."""
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError("sample", f"{text!r} is not a number (a share, e.g. 0.25)") from None


def _reform_text(names: list[str], limit_to: str, limit_from: str) -> str:
    """The checked scenarios, each limited to a place from a date when the form asks."""
    parts = [n for item in names for n in item.split("+") if n and n != "baseline"]
    place, day = limit_to.strip(), limit_from.strip()
    if place or day:
        suffix = (f"@{place}" if place else "") + (f":{day}" if day else "")
        parts = [n if ("@" in n or ":" in n) else n + suffix for n in parts]
    return "+".join(parts)


@router.get("/api/what-if", tags=["what-if"], summary="Ask a what-if (started if new)")
def what_if_api(
    request: Request,
    place: str,
    reform: str = "",
    first: str = "2008-10",
    last: str = "2014-09",
    runs: int = 5,
    seed: int = 1,
    sample: float | None = None,
    draft: str | None = None,
) -> Any:
    """``reform``: scenario names joined with ``+``, each optionally ``NAME@FIPS:YYYY-MM-DD``
    (limited to a place from a date). The same question gives the same job."""
    job = ctx(request).jobs.submit(_question(place, reform, first, last, runs, seed, sample, draft))
    return job.to_json() | {"url": f"/what-if?{urlencode(job.question.query())}"}


@router.get("/api/what-if/jobs/{job_id}", tags=["what-if"], summary="A what-if job's state")
def what_if_job(request: Request, job_id: str) -> Any:
    return ctx(request).jobs.get(job_id).to_json()


@router.get(
    "/api/what-if/jobs/{job_id}/figures.csv", tags=["downloads"], summary="A what-if's figures"
)
def what_if_csv(request: Request, job_id: str) -> Response:
    job = ctx(request).jobs.get(job_id)
    if job.result is None:
        raise InputError(f"what-if job {job_id}", f"not finished ({job.status})")
    rows: list[list[Any]] = [
        ["figure", "code", "baseline", "baseline p5", "baseline p95", "reform", "reform p5",
         "reform p95", "difference", "difference p5", "difference p95"],
    ]  # fmt: skip
    for f in job.result["figures"]:
        row: list[Any] = [f["label"], f["name"]]
        for part in ("baseline", "reform", "difference"):
            row += [f[part]["mean"], f[part]["p5"], f[part]["p95"]]
        rows.append(row)
    return _csv(rows, f"scomm-what-if-{job_id}.csv")


# --------------------------------------------------------------------------- policies


@router.get("/policies", include_in_schema=False)
def policies_page(request: Request) -> Response:
    return render(
        request, "policies.html", title="Policies", files=views.policy_files(), check=None, text=""
    )


@router.get("/api/policies", tags=["policies"], summary="Every policy file")
def policies_api() -> Any:
    return views.policy_files()


@router.get("/policies/{fips}", include_in_schema=False)
def policy_page(request: Request, fips: str) -> Response:
    data = views.policy_file(fips)
    return render(request, "policy.html", title=data["name"], data=data)


@router.get("/api/policies/{fips}", tags=["policies"], summary="One policy file, text and periods")
def policy_api(fips: str) -> Any:
    return views.policy_file(fips)


async def _draft_text(text: str, upload: UploadFile | None) -> str:
    if upload is not None and upload.filename:
        raw = await upload.read(MAX_DRAFT_BYTES + 1)
        if len(raw) > MAX_DRAFT_BYTES:
            raise InputError(upload.filename, f"larger than {MAX_DRAFT_BYTES // 1024} KB")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(upload.filename, "not UTF-8 text") from None
    if len(text.encode()) > MAX_DRAFT_BYTES:
        raise InputError("draft", f"larger than {MAX_DRAFT_BYTES // 1024} KB")
    return text


@router.post("/policies/check", include_in_schema=False)
async def policy_check_page(
    request: Request,
    csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
    text: Annotated[str, Form()] = "",
    upload: UploadFile | None = None,
) -> Response:
    check_csrf(request, csrf_token_field)
    draft = await _draft_text(text, upload)
    check = views.check_draft(draft)
    key = ctx(request).drafts.add(draft) if check["ok"] else None
    return render(
        request, "policies.html", 200 if check["ok"] else 422, title="Policies",
        files=views.policy_files(), check=check, text=draft, draft_key=key,
    )  # fmt: skip


class DraftIn(BaseModel):
    text: str


@router.post("/api/policies/check", tags=["policies"], summary="Validate a draft policy file")
def policy_check_api(request: Request, body: DraftIn) -> Any:
    """Send the session's CSRF token (GET /api/session) as the X-CSRF-Token header. A valid
    draft is kept (not installed) and gets a key: ask ``/api/what-if?draft=KEY&place=...``."""
    check_csrf(request, request.headers.get("x-csrf-token"))
    if len(body.text.encode()) > MAX_DRAFT_BYTES:
        raise InputError("draft", f"larger than {MAX_DRAFT_BYTES // 1024} KB")
    check = views.check_draft(body.text)
    if check["ok"]:
        check["draft"] = ctx(request).drafts.add(body.text)
    return JSONResponse(check, status_code=200 if check["ok"] else 422)


@router.get("/api/session", tags=["accounts"], summary="Who is logged in; the CSRF token")
def session_api(request: Request) -> Any:
    from scomm.web.app import current_account

    account = current_account(request)
    return {"account": account.to_json() if account else None, "csrf_token": csrf_token(request)}
