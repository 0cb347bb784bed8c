"""The ASGI app of ``mutagrad serve``: configuration, the one error shape, the token.

Every error, whatever raised it, is JSON ``{"error": "<one line>", "status": <code>}`` on
the API (an HTML page with the same line on pages), never a traceback:

    no such campaign or mutant                    404
    a body or parameter outside its limits        422 (the reason names the field)
    the library refuses the input (InvalidInput)  422
    a write without the token / a wrong token     401 / 403
    a write on a read-only server                 403
    a campaign already running here               409
    the database cannot be read                   503
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from mutagrad import __version__, analysis, report, sweep
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.store import Store, StoreError
from mutagrad.values import CampaignInfo
from mutagrad.web.cache import Memo
from mutagrad.web.jobs import Busy, Jobs


@dataclass(frozen=True)
class ServeConfig:
    db: str | None = None
    subjects: Path | None = None
    token: str | None = None
    read_only: bool = False
    host: str = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(config: ServeConfig) -> None:
    """Writing (starting campaigns) from beyond this machine needs a token."""
    if not is_loopback(config.host) and not config.token and not config.read_only:
        raise InvalidInput(f"refusing to serve {config.host} for writing without a token: pass "
                           "--token T (clients send 'Authorization: Bearer T'), or --read-only")
    if config.subjects is not None and not config.subjects.is_dir():
        raise InvalidInput(f"--subjects {config.subjects}: no such folder")


class State:
    """What the routes share: the store, the running campaigns, the configuration, and the
    library's answers already computed (see ``cache``)."""

    def __init__(self, config: ServeConfig):
        self.config = config
        # created if missing, when the server can start campaigns; a read-only one reads a
        # store this process may not be allowed to write
        self.store = Store(config.db, create=not config.read_only, read_only=config.read_only)
        self.jobs = Jobs(self.store)
        self.memo = Memo()

    def report(self, info: CampaignInfo, tolerance: float | None = None,
               strategy: str | None = None, epsilon: float | None = None,
               by: str = "category") -> analysis.Report:
        return self.memo.get(info, ("report", tolerance, strategy, epsilon, by),
                             lambda: analysis.report(self.store, info.id, tolerance, strategy,
                                                     epsilon, by, labels=True))

    def curves(self, info: CampaignInfo, strategy: str | None = None, lo: float = 1e-12,
               hi: float = 100.0) -> tuple[CampaignInfo, list[Any]]:
        return self.memo.get(info, ("tolerance", strategy, lo, hi),
                             lambda: sweep.tolerance_curves(self.store, info.id, strategy, lo, hi))

    def summary(self, info: CampaignInfo) -> dict[str, Any]:
        return self.memo.get(info, "summary", lambda: analysis.summarised(self.store, info))

    def progress(self, info: CampaignInfo) -> dict[str, int]:
        """Evaluated (mutant, case) pairs out of all, the original's included."""
        def count() -> dict[str, int]:
            cases = len(self.store.cases(info.id))
            total = (len(self.store.mutants(info.id)) + 1) * cases
            return {"done": self.store.done_count(info.id), "total": total}

        return self.memo.get(info, "progress", count)

    def history(self, subject: str | None, limit: int) -> list[dict[str, Any]]:
        """``history --json``'s rows, each with its progress."""
        infos = self.store.campaigns(subject, limit)
        rows = report.history_json([(info, self.summary(info)) for info in infos])
        for row, info in zip(rows, infos):
            row["progress"] = self.progress(info)
        return rows


def state(request: Request) -> State:
    result: State = request.app.state.mutagrad
    return result


def authorize(request: Request, token: str | None = None) -> None:
    """Writes need the server's token, as ``Authorization: Bearer T`` (or a form field)."""
    config = state(request).config
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        # a page on another site posting to this server (no token to stop it on loopback)
        raise HTTPException(403, f"cross-site request from {origin} refused")
    if config.read_only:
        raise HTTPException(403, "this server is read-only (started with --read-only)")
    if not config.token:
        return
    given = token
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    if not given:
        raise HTTPException(401, "this server needs its token to write: send "
                                 "'Authorization: Bearer <token>'")
    if not secrets.compare_digest(given.encode(), config.token.encode()):
        raise HTTPException(403, "wrong token")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def _validation_reason(exc: RequestValidationError) -> str:
    reasons = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        reasons.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(reasons)


def error_response(request: Request, status: int, message: str) -> Response:
    message = _one_line(message)
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    from mutagrad.web.pages import error_page

    return HTMLResponse(error_page(request, status, message), status_code=status)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service over one store. Routes parse, call the library, render; nothing more."""
    from mutagrad.web import api, pages

    config = config or ServeConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.mutagrad.jobs.stop_all()  # they store what they finished, resumable

    app = FastAPI(title="mutagrad", version=__version__, lifespan=lifespan,
                  description="Which bugs in your backward pass would your gradient check "
                              "catch? Campaigns and their results, as data.")
    app.state.mutagrad = State(config)
    app.include_router(api.router)
    app.include_router(pages.router)
    static = Path(str(resources.files("mutagrad") / "web" / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, _validation_reason(exc))

    @app.exception_handler(MutagradError)
    async def refused(request: Request, exc: MutagradError) -> Response:
        status = (409 if isinstance(exc, Busy) else 503 if isinstance(exc, StoreError)
                  else 422 if isinstance(exc, InvalidInput) else 400)
        return error_response(request, status, str(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        return error_response(request, 500, f"internal error: {type(exc).__name__}: {exc}")

    return app


def json_response(s: State, info: CampaignInfo, key: Hashable, build: Callable[[], Any]) -> Response:
    """``build()``'s JSON, encoded once and shared while fresh (see ``cache``)."""
    body = s.memo.get(info, ("json", key),
                      lambda: json.dumps(report.strict(build()), separators=(",", ":"),
                                         allow_nan=False).encode())
    return Response(body, media_type="application/json")
