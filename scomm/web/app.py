"""The web application: ``create_app(WebConfig(...))`` gives the FastAPI app that
``scomm serve`` runs under uvicorn.

Every page is server-rendered (Jinja2) from the same data its JSON twin under ``/api/``
returns (FastAPI documents the twins at ``/docs``). Aggregates are public; person-level pages
(runs' case lists, a case's timeline, the audit log) need a login. Sessions are signed cookies
(Starlette's SessionMiddleware, itsdangerous); every form that changes something carries a
per-session CSRF token.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from scomm.errors import InputError
from scomm.store.events import EventStore
from scomm.web.accounts import Account, LoginLimiter, get_account
from scomm.web.maps import MapCache
from scomm.web.simulate import NationalLoader, NationalSettings
from scomm.web.whatif import Drafts, Jobs

HERE = Path(__file__).parent
SESSION_MAX_AGE_S = 8 * 3600
# An InputError "no such ..." about one of these is a page that does not exist (404).
_RECORDS = ("county ", "case ", "run ", "policy ", "what-if job ", "draft ")


@dataclass(frozen=True)
class WebConfig:
    db_url: str = "sqlite:///scomm.sqlite"
    national: NationalSettings = field(default_factory=NationalSettings)
    out_dir: Path | None = Path("out/web")  # cached national runs, drafts, the session key
    secret_key: str | None = None  # default: SCOMM_SECRET_KEY, else a key kept in out_dir
    login_attempts: int = 5
    login_window_s: float = 900.0
    https_only: bool = False  # set behind TLS: the session cookie is then sent over TLS only


@dataclass
class Context:
    config: WebConfig
    store: EventStore
    national: NationalLoader
    jobs: Jobs
    drafts: Drafts
    maps: MapCache
    limiter: LoginLimiter
    templates: Jinja2Templates
    run_outcomes: dict[str, dict[str, str]] = field(default_factory=dict)


class NeedLogin(Exception):
    """A person-level page asked without a login."""


class Forbidden(Exception):
    """The account may not see this record."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _secret_key(config: WebConfig) -> str:
    if config.secret_key:
        return config.secret_key
    if os.environ.get("SCOMM_SECRET_KEY"):
        return os.environ["SCOMM_SECRET_KEY"]
    if config.out_dir is None:
        return secrets.token_urlsafe(32)  # sessions end with the process
    path = config.out_dir / "session.key"
    if not path.exists():
        # Written whole under a name of its own, then linked into place: of server processes
        # starting together (--workers), one key wins and every process reads that one.
        config.out_dir.mkdir(parents=True, exist_ok=True)
        mine = path.with_name(f"session.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(mine, path)
        mine.unlink()
    return path.read_text().strip()


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def current_account(request: Request) -> Account | None:
    username = request.session.get("user")
    if not username:
        return None
    account = get_account(ctx(request).store, username)
    if account is None:  # removed since the login
        request.session.clear()
    return account


def require_account(request: Request) -> Account:
    account = current_account(request)
    if account is None:
        raise NeedLogin()
    return account


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, given: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise Forbidden("the form's security token is missing or stale: reload the page")


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    c = ctx(request)
    account = current_account(request)
    return c.templates.TemplateResponse(
        request,
        template,
        {"account": account, "csrf": csrf_token(request), **values},
        status_code=status_code,
    )


_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Headers every response carries (a content security policy on HTML pages). Plain ASGI:
    Starlette's ``@app.middleware("http")`` runs each request through an extra task and
    stream, which costs milliseconds on every page."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in names]
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html")
                           for k, v in headers)  # fmt: skip
                if html and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


CONFIG_VARIABLE = "SCOMM_WEB_CONFIG"


def config_to_environment(config: WebConfig) -> str:
    """The config as JSON, for :func:`app_from_environment` in each server process."""
    return json.dumps(
        {
            "db_url": config.db_url,
            "national": config.national.__dict__,
            "out_dir": str(config.out_dir) if config.out_dir is not None else None,
            "secret_key": config.secret_key,
            "login_attempts": config.login_attempts,
            "login_window_s": config.login_window_s,
            "https_only": config.https_only,
        }
    )


def app_from_environment() -> FastAPI:
    """The app of ``$SCOMM_WEB_CONFIG``: the factory uvicorn calls in each of its worker
    processes (``scomm serve --workers N``)."""
    raw = json.loads(os.environ[CONFIG_VARIABLE])
    out_dir = raw.pop("out_dir")
    config = WebConfig(
        national=NationalSettings(**raw.pop("national")),
        out_dir=Path(out_dir) if out_dir is not None else None,
        **raw,
    )
    return create_app(config)


def create_app(config: WebConfig | None = None) -> FastAPI:
    config = config or WebConfig()
    store = EventStore.open(config.db_url)
    cache_dir = config.out_dir / "cache" if config.out_dir else None
    drafts = Drafts(config.out_dir / "drafts" if config.out_dir else None)
    templates = Jinja2Templates(directory=HERE / "templates")
    from scomm.web import filters

    filters.install(templates.env)
    context = Context(
        config,
        store,
        NationalLoader(config.national, cache_dir),
        Jobs(store, drafts),
        drafts,
        MapCache(),
        LoginLimiter(store, config.login_attempts, config.login_window_s),
        templates,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        context.national.start()
        context.jobs.start()
        yield
        context.jobs.shutdown()
        store.close()

    app = FastAPI(
        title="scomm",
        summary="Secure Communities, open and runnable: every page's JSON twin.",
        description=(
            "Aggregates (the nation, counties, what-ifs, policies) are public. Person-level "
            "records (runs' cases, a case's timeline, the audit log) need a login: POST "
            "/login with the session's CSRF token (GET /api/session), then send the session "
            "cookie; every read of a case is written to the audit log under the account."
        ),
        lifespan=lifespan,
    )
    app.state.ctx = context
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret_key(config),
        session_cookie="scomm_session",
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=config.https_only,
    )

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        missing = "no such" in exc.problem and exc.where.startswith(_RECORDS)
        status = 404 if missing else 400
        if is_api(request):
            return JSONResponse({"error": str(exc), "where": exc.where}, status_code=status)
        return render(
            request,
            "error.html",
            status,
            title="Not found" if status == 404 else "Bad input",
            message=str(exc),
        )

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if is_api(request):
            return JSONResponse({"error": "this record needs a login"}, status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api(request):
            return JSONResponse({"error": exc.message}, status_code=403)
        return render(request, "error.html", 403, title="Not allowed", message=exc.message)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    from scomm.web import pages, people

    app.include_router(pages.router)
    app.include_router(people.router)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/health", include_in_schema=False)
    def health() -> HTMLResponse:
        return HTMLResponse("ok")

    return app
