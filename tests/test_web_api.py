"""The web application through FastAPI's test client: every page and its JSON twin, the
what-if jobs, draft policies, logins, roles, CSRF, the login limit and the audit log."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _public_data import needs_public_data
from _web import HOME, OTHER, PASSWORD, WebWorld, case_events, make_world

pytest.importorskip("fastapi", reason="the web extra is not installed")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from scomm.simulation.results import HEADLINE  # noqa: E402
from scomm.store.events import EventStore  # noqa: E402
from scomm.web.app import create_app  # noqa: E402

pytestmark = needs_public_data()

DRAFT = """fips: "{fips}"
state: TX
name: Travis County (draft)
periods:
  - from: 2012-01-01
    summary: Honor a detainer only with a judicial warrant.
    reference: "A draft order of the county, not adopted"
    source: "a test"
    policy:
      honor: conditional
      judicial_warrant_required: true
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WebWorld:
    return make_world(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def app(world: WebWorld) -> Iterator[FastAPI]:
    application = create_app(world.config)
    with TestClient(application):  # runs the lifespan: the national run loads
        application.state.ctx.national.wait(timeout=300)
        yield application


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A fresh browser: its own cookies (no login)."""
    return TestClient(app)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = client.get("/api/session").json()["csrf_token"]
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def wait_for(client: TestClient, job_url: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(job_url).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_url} not finished in {timeout} s")


# --------------------------------------------------------------------------- public pages


@pytest.mark.parametrize(
    "path",
    ["/", "/counties", f"/counties/{HOME}", "/what-if", "/policies", "/policies/06085", "/login"],
)
def test_every_public_page_renders(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in r.headers
    assert "cdn" not in r.text.lower()  # every asset is served from here


def test_nation_json_has_words_intervals_and_the_foia_series(client: TestClient) -> None:
    data = client.get("/api/nation").json()
    assert [f["name"] for f in data["headline"]] == list(HEADLINE)
    for f in data["headline"]:
        assert f["label"] and f["definition"] and f["label"] != f["name"]
        if f["mean"] is not None:
            assert f["p5"] <= f["mean"] <= f["p95"]
    assert data["months"] == ["2014-01", "2014-02", "2014-03", "2014-04"]
    issued = data["series"]["detainers_issued"]
    assert len(issued["mean"]) == 4 and all(
        lo <= m <= hi for lo, m, hi in zip(issued["p5"], issued["mean"], issued["p95"], strict=True)
    )
    real = data["real"]
    assert real is not None and len(real["values"]) == 4 and all(v > 0 for v in real["values"])


def test_nation_page_draws_from_local_chart_library(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script src="/static/uplot.iife.min.js"' in page
    assert client.get("/static/uplot.iife.min.js").status_code == 200
    assert "MIT License" in client.get("/static/uplot.LICENSE").text
    # Every headline figure is shown by its label, with its definition beside it.
    assert "Share of removals with no conviction" in page
    assert "removals_non_criminal_share" not in re.sub(r'title="[^"]*"', "", page)


def test_csv_downloads_carry_labels(client: TestClient) -> None:
    r = client.get("/api/nation/series.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    header = r.text.splitlines()[0]
    assert "Detainers issued (detainers_issued)" in header
    assert "Detainers in ICE's records (FOIA) (foia_detainers)" in header
    assert len(r.text.splitlines()) == 1 + 4
    headline = client.get("/api/nation/headline.csv").text.splitlines()
    assert headline[0].startswith("figure,code,definition")
    assert len(headline) == 1 + len(HEADLINE)
    county = client.get(f"/api/counties/{HOME}/series.csv")
    assert county.status_code == 200 and "Holds (holds)" in county.text.splitlines()[0]


def test_county_json(client: TestClient) -> None:
    data = client.get(f"/api/counties/{HOME}").json()
    assert data["name"].startswith("Travis") and data["state"] == "TX"
    assert data["activation_date"] is not None
    assert data["ice_office"]["aor"]
    layers = {p["layer"] for p in data["policy_timeline"]}
    assert "federal" in layers
    assert all(p["reference"] and p["from"] for p in data["policy_timeline"])
    assert set(data["series"]) >= {"detainers_issued", "hold_cost_usd", "us_citizens_held"}


def test_county_with_a_policy_file_shows_its_layers(client: TestClient) -> None:
    data = client.get(f"/api/counties/{OTHER}").json()
    layers = {p["layer"] for p in data["policy_timeline"]}
    assert {"federal", "state", "county"} <= layers


def test_unknown_county_is_a_clear_404(client: TestClient) -> None:
    r = client.get("/api/counties/99999")
    assert r.status_code == 404 and "99999" in r.json()["error"]
    assert client.get("/counties/99999").status_code == 404


def test_maps_are_compact_pngs(client: TestClient) -> None:
    for kind in ("rollout", "declines"):
        r = client.get(f"/maps/{kind}.png?on=2014-03-15")
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(r.content) < 600_000
    assert client.get("/maps/nope.png").status_code == 400
    assert client.get("/maps/policy.png?on=yesterday").status_code == 400


def test_openapi_documents_every_json_twin(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for twin in (
        "/api/nation",
        "/api/counties/{fips}",
        "/api/what-if",
        "/api/what-if/jobs/{job_id}",
        "/api/policies",
        "/api/policies/{fips}",
        "/api/runs/{run_id}",
        "/api/cases/{case_id}",
        "/api/audit",
    ):
        assert twin in paths, twin
    assert client.get("/docs").status_code == 200


# --------------------------------------------------------------------------- what-if


def test_what_if_runs_beside_the_baseline(client: TestClient) -> None:
    q: dict[str, Any] = {"place": HOME, "reform": f"judicial_warrant@{HOME}:2014-02-01"}
    q |= {"first": "2014-01", "last": "2014-06", "runs": 2, "sample": 0.05}
    started = client.get("/api/what-if", params=q).json()
    again = client.get("/api/what-if", params=q).json()
    assert again["id"] == started["id"]  # the same question is one job
    job = wait_for(client, f"/api/what-if/jobs/{started['id']}")
    assert job["status"] == "done", job["error"]
    figures = {f["name"]: f for f in job["result"]["figures"]}
    honored = figures["detainers_honored"]
    # Same random numbers: bookings are the same; fewer holds under a warrant rule.
    assert figures["bookings"]["difference"]["mean"] == 0
    assert honored["reform"]["mean"] < honored["baseline"]["mean"]
    assert honored["difference"]["mean"] == pytest.approx(
        honored["reform"]["mean"] - honored["baseline"]["mean"]
    )
    # The shareable URL reopens the same job, finished.
    page = client.get(started["url"])
    assert page.status_code == 200 and 'id="result-table"' in page.text
    csv_text = client.get(f"/api/what-if/jobs/{started['id']}/figures.csv").text
    assert csv_text.splitlines()[0].startswith("figure,code,baseline")


def test_what_if_form_redirects_to_a_canonical_shareable_url(client: TestClient) -> None:
    r = client.get(
        "/what-if",
        params={
            "place": "tx",
            "reform": ["serious_crimes_only"],
            "first": "2014-01",
            "last": "2014-02",
            "runs": 1,
            "sample": "",
            "limit_to": "",
            "limit_from": "",
        },  # fmt: skip  (blank fields as the browser sends them)
        follow_redirects=False,
    )
    assert r.status_code == 303
    target = r.headers["location"]
    assert "place=48" in target and "reform=serious_crimes_only" in target
    assert "sample=0.05" in target  # the default made explicit: the URL says everything


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"place": "XX", "reform": "serious_crimes_only"}, "place"),
        ({"place": HOME, "reform": "no_such_reform"}, "no such scenario"),
        ({"place": HOME, "reform": "serious_crimes_only@4845:2012-01-01"}, "FIPS"),
        ({"place": HOME, "reform": "serious_crimes_only", "first": "2001-01"}, "began"),
        ({"place": HOME, "reform": "serious_crimes_only", "runs": 99}, "runs"),
        ({"place": HOME, "reform": ""}, "at least one reform"),
    ],
)
def test_what_if_refuses_bad_questions(
    client: TestClient, params: dict[str, Any], problem: str
) -> None:
    r = client.get("/api/what-if", params=params)
    assert r.status_code == 400
    assert problem in r.json()["error"]


# --------------------------------------------------------------------------- policies


def test_policy_files_are_readable(client: TestClient) -> None:
    files = client.get("/api/policies").json()
    assert files[0]["fips"] == "US" and len(files) > 10
    one = client.get("/api/policies/06085").json()
    assert "Santa Clara" in one["name"] and one["text"].startswith("fips:")
    assert one["periods"][0]["reference"]
    assert client.get("/api/policies/99").status_code == 404


def test_a_bad_draft_gets_its_errors_by_line(client: TestClient) -> None:
    token = client.get("/api/session").json()["csrf_token"]
    bad = DRAFT.format(fips=HOME).replace("honor: conditional", "honor: sometimes")
    r = client.post("/api/policies/check", json={"text": bad}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["line"] == bad.splitlines().index("      honor: sometimes") + 1
    assert "honor" in error["message"]
    page = client.post("/policies/check", data={"csrf_token": token, "text": bad})
    assert page.status_code == 422 and f'href="#L{error["line"]}"' in page.text


def test_a_draft_needs_the_csrf_token(client: TestClient) -> None:
    client.get("/api/session")
    r = client.post("/api/policies/check", json={"text": DRAFT.format(fips=HOME)})
    assert r.status_code == 403


def test_a_valid_draft_runs_as_a_what_if_without_being_installed(client: TestClient) -> None:
    from scomm.policies.load import jurisdiction_policies

    token = client.get("/api/session").json()["csrf_token"]
    r = client.post(
        "/api/policies/check",
        json={"text": DRAFT.format(fips=HOME)},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200 and r.json()["ok"]
    key = r.json()["draft"]
    q = {"place": HOME, "draft": key, "first": "2014-01", "last": "2014-04", "runs": 1}
    job = wait_for(client, f"/api/what-if/jobs/{client.get('/api/what-if', params=q).json()['id']}")
    assert job["status"] == "done", job["error"]
    honored = {f["name"]: f for f in job["result"]["figures"]}["detainers_honored"]
    assert honored["reform"]["mean"] < honored["baseline"]["mean"]
    assert HOME not in jurisdiction_policies()  # never installed


# --------------------------------------------------------------------------- people


@pytest.mark.parametrize("path", ["/runs", "/cases/48453-20130603-000001", "/audit"])
def test_person_level_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/api" + path).status_code == 401


def test_login_needs_the_csrf_token(client: TestClient) -> None:
    r = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert r.status_code == 403


def test_county_user_sees_own_county_only_and_every_read_is_logged(
    client: TestClient, world: WebWorld, app: FastAPI
) -> None:
    assert login(client, "travis").status_code == 303
    runs = client.get("/api/runs").json()
    assert [r["run_id"] for r in runs] == [world.home_run]
    assert client.get(f"/api/runs/{world.other_run}").status_code == 403
    refused = client.get(f"/cases/{world.other_cases[0]}")
    assert refused.status_code == 403 and OTHER in refused.text
    case = client.get(f"/api/cases/{world.held_case}").json()
    assert case["timeline"][0]["step"] == "booking"
    assert all("truth" not in e["payload"] for e in case["timeline"])
    clock = case["hold_clock"]
    assert clock["limit_hours"] == 48 and clock["held_hours"] == 20 and not clock["over_limit"]
    store: EventStore = app.state.ctx.store
    reads = store.audit_entries(subject=world.held_case, reader="web:travis")
    assert len(reads) == 1
    assert not store.audit_entries(subject=world.other_cases[0], reader="web:travis")


def test_a_county_user_is_checked_against_the_cases_real_county(
    client: TestClient, world: WebWorld, app: FastAPI
) -> None:
    # A case id that begins with the user's FIPS but was booked in another county, and one of
    # the user's county whose id names no county at all: the booking event decides.
    store: EventStore = app.state.ctx.store
    day = dt.datetime(2013, 6, 4, 9, tzinfo=dt.UTC)
    misleading, plain = f"{HOME}-20130604-900000", "case-20130604-a"
    store.append(*case_events(misleading, OTHER, day, "held"))
    store.append(*case_events(plain, HOME, day, "held"))
    assert login(client, "travis").status_code == 303
    refused = client.get(f"/api/cases/{misleading}")
    assert refused.status_code == 403 and OTHER in refused.text
    assert client.get(f"/api/cases/{plain}").json()["county"] == HOME
    assert client.get("/api/cases/no-such-case").status_code == 404
    assert not store.audit_entries(subject=misleading)
    assert len(store.audit_entries(subject=plain, reader="web:travis")) == 1


def test_run_case_list_is_searchable(client: TestClient, world: WebWorld) -> None:
    login(client, "ana")
    data = client.get(f"/api/runs/{world.home_run}").json()
    assert data["matching"] == 3
    outcomes = {c["case_id"]: c["outcome"] for c in data["cases"]}
    assert outcomes == dict(
        zip(world.home_cases, ["no_ident_match", "transferred", "removed"], strict=True)
    )
    removed = client.get(f"/api/runs/{world.home_run}", params={"outcome": "removed"}).json()
    assert [c["case_id"] for c in removed["cases"]] == [world.home_cases[2]]
    by_id = client.get(f"/api/runs/{world.home_run}", params={"q": "000001"}).json()
    assert [c["case_id"] for c in by_id["cases"]] == [world.home_cases[1]]
    assert client.get(f"/api/runs/{world.home_run}", params={"outcome": "x"}).status_code == 400


def test_audit_log_is_for_administrators(client: TestClient, world: WebWorld) -> None:
    login(client, "ana")
    client.get(f"/api/cases/{world.other_cases[2]}")
    assert client.get("/api/audit").status_code == 403
    admin = TestClient(client.app)
    login(admin, "admin")
    entries = admin.get("/api/audit", params={"reader": "web:ana"}).json()["entries"]
    assert world.other_cases[2] in [e["case_id"] for e in entries]
    page = admin.get("/audit")
    assert page.status_code == 200 and "web:ana" in page.text


def test_failed_logins_are_limited(app: FastAPI) -> None:
    client = TestClient(app, client=("10.0.0.9", 5000))
    for _ in range(app.state.ctx.config.login_attempts):
        assert login(client, "admin", "wrong password!").status_code == 401
    r = login(client, "admin")  # the right password, too late
    assert r.status_code == 429 and "Too many" in r.text


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client, "ana")
    assert client.get("/api/runs").status_code == 200
    token = client.get("/api/session").json()["csrf_token"]
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/api/runs").status_code == 401


def test_session_cookie_is_signed(app: FastAPI) -> None:
    client = TestClient(app)
    client.cookies.set("scomm_session", "eyJ1c2VyIjogImFkbWluIn0=.forged.signature")
    assert client.get("/api/runs").status_code == 401


def test_serve_starts_on_a_fresh_directory(tmp_path: Path) -> None:
    """`scomm serve`'s app on an empty folder: the store, its tables and the session key are
    made, and the pages answer (here while the national run is still loading)."""
    from scomm.web.app import WebConfig
    from scomm.web.simulate import NationalSettings

    config = WebConfig(
        db_url=f"sqlite:///{tmp_path}/fresh.sqlite",
        national=NationalSettings(first="2014-01", last="2014-01", runs=1, sample=0.001),
        out_dir=tmp_path / "out",
    )
    fresh = create_app(config)
    client = TestClient(fresh)
    assert client.get("/policies").status_code == 200
    assert client.get("/").status_code in (200, 503)
    assert (tmp_path / "out" / "session.key").stat().st_mode & 0o077 == 0
