"""The web application in a real browser: headless Chromium (Debian's, at /usr/bin/chromium or
SCOMM_CHROMIUM) driven by Playwright against the app served on a local port. Each page loads
with its charts drawn and no script error; a what-if runs to completion from the form; a county
user is refused another county's case; the administrator's audit log shows the read."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _public_data import needs_public_data
from _web import HOME, PASSWORD, WebWorld, make_world

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
pytest.importorskip("fastapi", reason="the web extra is not installed")

from scomm.web.app import create_app  # noqa: E402
from scomm.web.server import running  # noqa: E402

CHROMIUM = os.environ.get("SCOMM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    *needs_public_data(),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WebWorld:
    return make_world(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def base_url(world: WebWorld) -> Iterator[str]:
    app = create_app(world.config)
    with running(app) as url:
        app.state.ctx.national.wait(timeout=300)
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.errors = errors
    yield p
    context.close()


def log_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#log-in")
    page.wait_for_url(re.compile(r".*/$"))


@pytest.mark.parametrize(
    ("path", "charts"),
    [("/", 3), (f"/counties/{HOME}", 5), ("/counties", 0), ("/what-if", 0), ("/policies", 0)],
)
def test_each_page_loads_with_its_charts(page: Any, base_url: str, path: str, charts: int) -> None:
    response = page.goto(base_url + path)
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").count() == 1
    # uPlot draws each chart into a canvas inside its plot element.
    assert page.locator(".plot canvas").count() == charts
    if path == "/":
        for img in page.locator(".maps img").all():
            img.scroll_into_view_if_needed()  # drawn lazily, when seen
            img.evaluate(
                "i => i.complete ? true : new Promise(r => i.addEventListener('load', r))",
            )
            assert img.evaluate("i => i.naturalWidth") > 0
    assert page.errors == []


def test_a_what_if_runs_to_completion_from_the_form(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/what-if")
    page.fill("#place", HOME)
    page.check("input[name=reform][value=judicial_warrant]")
    page.fill("#first", "2014-01")
    page.fill("#last", "2014-06")
    page.fill("#runs", "2")
    page.click("#run-what-if")
    # The page polls the job and reloads with the result.
    page.wait_for_selector("#result-table", timeout=120_000)
    assert "place=48453" in page.url and "reform=judicial_warrant" in page.url
    assert page.locator("#result-table tbody tr").count() > 5
    assert page.locator(".plot canvas").count() == 3
    shared = page.locator("#share").get_attribute("href")
    assert shared == page.url
    assert page.errors == []


def test_county_user_is_refused_another_countys_case_and_reads_are_audited(
    browser: Any, base_url: str, world: WebWorld
) -> None:
    county = browser.new_context().new_page()
    log_in(county, base_url, "travis")
    refused = county.goto(f"{base_url}/cases/{world.other_cases[1]}")
    assert refused.status == 403
    assert "may open the records of county 48453 only" in county.inner_text(".error")
    opened = county.goto(f"{base_url}/cases/{world.held_case}")
    assert opened.status == 200
    assert county.locator("svg.clock").count() == 1
    county.goto(f"{base_url}/runs/{world.home_run}")
    assert county.locator("#cases tbody tr").count() == 3

    admin = browser.new_context().new_page()
    log_in(admin, base_url, "admin")
    admin.goto(f"{base_url}/audit?reader=web:travis")
    rows = admin.locator("#audit tbody tr")
    assert rows.count() == 1
    assert world.held_case in rows.first.inner_text()
    assert world.other_cases[1] not in admin.inner_text("#audit")
