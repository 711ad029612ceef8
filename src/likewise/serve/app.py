"""The FastAPI app of ``likewise serve``: the API (:mod:`.routes`), the page (``static/``), the guard.

:func:`create_app` builds it for one :class:`~likewise.serve.state.ServeState`. Errors are JSON
``{"error": message}`` with a status that says what went wrong (400 bad input, 404 unknown record or
session, 409 conflict, 413 body too large, 422 malformed request, 500 a bug: the traceback goes to the
server's log only). The OpenAPI schema is at ``/api/openapi.json``; no documentation UI is served, because
it would load scripts from a CDN and the page must work without a network.
"""
from __future__ import annotations

import logging
import traceback
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from likewise import __version__
from likewise.errors import InputError, LikewiseError
from likewise.serve.security import DEFAULT_MAX_BODY, LOOPBACK_NAMES, BodyTooLarge, Guard
from likewise.serve.state import Conflict, NotFound, ServeState
from likewise.workspace import WorkspaceBusyError

STATIC = Path(__file__).parent / "static"
REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
              "img-src data:; frame-ancestors 'none'")
log = logging.getLogger("likewise.serve")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(state: ServeState, *, token: str, port: int, hosts: tuple[str, ...] | None = LOOPBACK_NAMES,
               max_body: int = DEFAULT_MAX_BODY) -> Guard:
    """The ASGI app (FastAPI behind the :class:`Guard`) serving ``state``; ``port`` names the cookies and
    the allowed origins, ``hosts`` the Host names it answers to (None: any)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    app = FastAPI(title="likewise serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="The HTTP API of `likewise serve`: records, search, labeling sessions, labels with "
                              "idempotency keys, classes, retrain jobs with progress, maps, the run log. Every "
                              "request needs the server's token (`Authorization: Bearer TOKEN`, or the cookie the "
                              "printed URL sets, with an `X-CSRF-Token` header on changes).")
    app.state.serve = state
    app.include_router(_api())

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(WorkspaceBusyError)
    async def busy(request: Request, exc: WorkspaceBusyError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(LikewiseError)
    async def bad_input(request: Request, exc: LikewiseError) -> JSONResponse:
        return _error(400 if isinstance(exc, InputError) else 500, str(exc))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                    for e in exc.errors()]
        first = problems[0] if problems else {"where": "request", "problem": "malformed"}
        return _error(422, f"malformed request: {first['where']}: {first['problem']}", problems=problems[:20])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            message = f"not found: {request.url.path}"
        return _error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed:\n%s", request.method, request.url.path, traceback.format_exc())
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/report", include_in_schema=False)
    def report() -> Any:
        path = state.report
        if not path or not Path(path).is_file():
            return _error(404, "no report yet: write one from the progress page (or `likewise report`)")
        # the report carries its own inline script: it opens sandboxed, without this origin's cookies or API
        return FileResponse(path, media_type="text/html", headers={"content-security-policy": REPORT_CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return Guard(app, token=token, port=port, hosts=hosts, max_body=max_body)


def _api():
    from likewise.serve.routes import api

    return api
