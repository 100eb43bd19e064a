"""The console's web application: Starlette routes, Jinja2 pages, the guards every request passes.

* **Who may ask**: the console listens on 127.0.0.1 by default and answers only requests that
  carry its session cookie, set by the one-time link it prints at start (``/login?token=...``);
  a Host header other than the one it listens on is refused (DNS rebinding).
* **What leaves it**: pages are rendered on the server, autoescaped; no script is served
  (``Content-Security-Policy: script-src 'none'``), every asset is package data; responses are
  not cached (``no-store``) and send no referrer.
* **What it logs**: one line per request, method, path and status, never the query string (a
  personnummer in a URL never reaches a log); uvicorn's access log is off.
* **What a user sees when something fails**: a page that says what in one sentence (the broker
  gone, a refusal, a lookup that could not be recorded), never a traceback.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from samband.observability import get_logger

from ._backend import Backend
from ._errors import BrokerGone, ConsoleError, NotRecorded, Refused
from ._labels import LANGS, Labels

__all__ = ["ConsoleConfig", "create_app"]

log = get_logger("samband.console")
HERE = Path(__file__).parent
COOKIE = "samband_console"
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


@dataclass
class ConsoleConfig:
    state_dir: Path
    identity: str
    host: str = "127.0.0.1"
    port: int = 8080
    lang: str = "sv"
    traces_url: str | None = None
    checkpoint_interval: _dt.timedelta = _dt.timedelta(hours=1)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class _Guard:
    """Session cookie, security headers and the access log, around every request (pure ASGI)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, path, status = time.perf_counter(), scope.get("path", ""), [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_SECURITY_HEADERS]
            await send(message)

        try:
            if path in ("/login", "/favicon.ico") or path.startswith("/static/") or self._signed_in(scope):
                await self.app(scope, receive, sending)
            else:
                await Response(
                    "Open the link `samband console` printed when it started: it signs this browser in.\n",
                    status_code=401,
                    media_type="text/plain; charset=utf-8",
                )(scope, receive, sending)
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.info("console request", method=scope.get("method"), path=path[:200], status=status[0], ms=round(ms, 1))

    def _signed_in(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == COOKIE and hmac.compare_digest(v.encode(), self.token.encode()):
                        return True
        return False


def labels_for(request: Request) -> Labels:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or request.app.state.config.lang
    return Labels("en" if lang == "en" else "sv")


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    app = request.app
    t = labels_for(request)
    response = app.state.templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "backend": app.state.backend,
            "config": app.state.config,
            "path": request.url.path,
            "now": _dt.datetime.now(_dt.UTC),
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", t.lang, httponly=True, samesite="strict")
    return response


async def _login(request: Request) -> Response:
    token = request.query_params.get("token", "")
    if not hmac.compare_digest(token.encode(), request.app.state.config.token.encode()):
        return Response("That sign-in link is not this console's.\n", status_code=401, media_type="text/plain")
    response = RedirectResponse("/disclosures", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


async def _console_error(request: Request, exc: Exception) -> Response:
    status = 503 if isinstance(exc, (BrokerGone, NotRecorded)) else 403 if isinstance(exc, Refused) else 500
    kinds: dict[type, str] = {BrokerGone: "broker", NotRecorded: "not-recorded", Refused: "refused"}
    kind = kinds.get(type(exc), "error")
    return render(request, "error.html", status=status, kind=kind, message=str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render(request, "error.html", status=exc.status_code, kind="http", message=str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("console: a page failed", path=request.url.path, error=repr(exc)[:500])
    return render(
        request, "error.html", status=500, kind="error", message="This page failed; the console's log says why."
    )


def create_app(config: ConsoleConfig) -> Starlette:
    from ._pages import routes as pages
    from ._pages_more import routes as more

    backend = Backend(config.state_dir, config.identity)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await backend.close()

    hosts = sorted({config.host, "127.0.0.1", "localhost", "::1"})
    app = Starlette(
        routes=[
            Route("/login", _login),
            Mount("/static", app=StaticFiles(packages=[("samband.console", "static")]), name="static"),
            *pages,
            *more,
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts), Middleware(_Guard, token=config.token)],
        exception_handlers={
            ConsoleError: _console_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.backend = backend
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.state.templates = Jinja2Templates(env=env)
    app.state.cache = {}
    return app
