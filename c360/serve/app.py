"""``create_app(settings)``: the serving API over the published tables of one lake root.

No Spark in this process: tables are delta-rs snapshots, SQL and aggregates run in
DataFusion (:mod:`c360.sql`), lookups come from in-memory indexes of the current
generation (:mod:`c360.serve.state`), reloaded by polling the Delta logs. Every /v1
request is authenticated by its X-API-Key, authorised by its role's tags and recorded in
the audit table in batches. The docs page is served with local Swagger UI assets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c360.access import SCOPES, AccessDenied, Unauthenticated
from c360.serve.audit import AuditRecord, AuditWriter
from c360.serve.routers import air_quality, customers, exports, finance, health, marketing, meta, product, sql
from c360.serve.state import ServedLake
from c360.settings import Settings
from c360.sql import FilesGoneError, SqlEngine, SqlError, SqlInterruptedError
from c360.storage.names import TableNameError

log = logging.getLogger(__name__)
SWAGGER_STATIC = "/static/swagger"
TAG_DESCRIPTIONS = {
    "customers": "Application and call-centre lookups: one profile, filtered pages, history.",
    "marketing": "Churn-risk and win-back lists, segment sizes and value, loyalty tiers.",
    "finance": "CLV by segment; revenue by customer segment and its share.",
    "product": "Which segments buy a product line; digital engagement by segment.",
    "air-quality": "Stations, daily AQI, and the AQI calculator.",
    "meta": "The tables you may read: versions, rows, columns, descriptions, tags.",
    "sql": "Read-only SQL over the published tables by name.",
    "exports": "A table as of a version, as a file.",
}


def create_app(settings: Settings, *, block_until_loaded: bool = False) -> FastAPI:
    """The app. ``block_until_loaded``: load the lake before serving (tests); otherwise it loads
    in the background and /health says 503 until it is ready."""
    lake = ServedLake(settings.lake_root, poll_seconds=settings.serve_reload_seconds)
    engine = SqlEngine(
        settings.lake_root,
        snapshot_source=lambda: lake.current.snapshot if lake.current else None,
        on_stale=lake.request_reload,
        default_limit=settings.serve_sql_row_limit,
        timeout=settings.serve_sql_timeout_seconds,
        workers=settings.serve_sql_processes,
        memory_bytes=settings.sql_memory_bytes(settings.serve_sql_processes * settings.serve_workers),
    )
    audit = AuditWriter(settings.lake_root, flush_seconds=settings.serve_audit_flush_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit.start()

        def load_then_poll() -> None:
            try:
                lake.load()
            except Exception as exc:  # noqa: BLE001 - /health reports it; the poller retries
                lake.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("initial load failed")
            lake.start()
            try:
                engine.start_processes()  # no SQL request waits for its query process to start
            except SqlInterruptedError as exc:  # a Ctrl-C as the server started: the server stops too
                log.warning("%s; a query starts its process again", exc)
            except SqlError:
                log.exception("the SQL engine's query processes did not start")

        if block_until_loaded:
            load_then_poll()
        else:
            threading.Thread(target=load_then_poll, name="c360-load", daemon=True).start()
        try:
            yield
        finally:
            lake.stop()
            audit.close()
            engine.close()

    app = FastAPI(
        title="c360 serving API",
        version="1",
        description="Customer 360 and air-quality data products: lookups, aggregates, SQL and exports. "
        "Every answer names the table versions it read. Send your key in the X-API-Key header.",
        openapi_tags=[{"name": t, "description": TAG_DESCRIPTIONS.get(t, "")} for t in SCOPES],
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.lake = lake
    app.state.engine = engine
    app.state.audit = audit
    for module in (health, customers, marketing, finance, product, air_quality, meta, sql, exports):
        app.include_router(module.router)
    _docs(app)
    _errors(app)

    # Added first, so it runs inside the audit's middleware: a refused body is audited too.
    app.add_middleware(BodyLimitMiddleware, limit=settings.serve_max_body_bytes)
    app.add_middleware(AuditMiddleware, writer=audit)
    return app


def create_app_from_environment() -> FastAPI:
    """The app with settings from the environment: what each worker process of
    ``c360 serve --workers N`` builds."""
    from c360.settings import load_settings

    return create_app(load_settings())


class BodyLimitMiddleware:
    """A request body past ``limit`` bytes is a 413 before more of it is read.

    Neither uvicorn nor FastAPI bounds a body: a 200 MB POST /v1/aqi was read, parsed and
    answered (the record limit is checked after parsing), taking the process to 1 GB. The
    declared Content-Length is refused at the body's first read, a chunked body once its
    bytes pass the limit; the HTTPException goes through the app's handlers, so the answer is
    the API's JSON error and its audit row."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):  # no endpoint reads their bodies
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        seen = 0

        def too_large(size: str) -> StarletteHTTPException:
            return StarletteHTTPException(
                413, f"the request body ({size}) is larger than this server takes ({limit} bytes)"
            )

        async def bounded() -> Message:
            nonlocal seen
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise too_large(f"{int(declared)} bytes")
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(f"more than {limit} bytes")
            return message

        await self.app(scope, bounded, send)


class AuditMiddleware:
    """One audit record per /v1 request, as plain ASGI.

    Starlette's ``@app.middleware("http")`` wraps every request in a task group and memory
    streams, which cost more than the lookup itself; this only watches the response head
    go by, adds the request id and versions headers, and queues the record when the
    response is complete (or failed)."""

    def __init__(self, app: ASGIApp, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        rec = AuditRecord(scope["method"], scope["path"], scope["path"] + (f"?{query}" if query else ""))
        scope.setdefault("state", {})["audit"] = rec
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if rec.status == 0:
                    rec.status = message["status"]
                rec.duration_ms = (time.perf_counter() - started) * 1000
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rec.request_id
                if rec.tables:
                    headers["X-C360-Versions"] = ",".join(rec.tables)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            rec.status, rec.error = 500, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            route = scope.get("route")
            rec.endpoint = str(getattr(route, "path", scope["path"]))
            if rec.duration_ms is None:
                rec.duration_ms = (time.perf_counter() - started) * 1000
            self.writer.record(rec)


def swagger_ui_assets() -> Path:
    """The folder of Swagger UI 5 that the swagger-ui-py package ships, found without importing
    it (its module imports its framework handlers). Swagger UI 4 (swagger-ui-bundle, before)
    cannot render OpenAPI 3.1, the version FastAPI emits: /docs showed only "Unable to render
    this definition"."""
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: /docs needs its Swagger UI assets")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _docs(app: FastAPI) -> None:
    """The Swagger UI page from the installed assets: works offline."""
    app.mount(SWAGGER_STATIC, StaticFiles(directory=swagger_ui_assets()), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_STATIC}/favicon-32x32.png",
        )


def _note(request: Request, status: int, message: str) -> None:
    rec = getattr(request.state, "audit", None)
    if rec is not None:
        rec.status, rec.error = status, message


def _errors(app: FastAPI) -> None:
    """Refusals become clear 4xx answers (and audit rows), never a 500."""

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        _note(request, 401, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "X-API-Key"})

    @app.exception_handler(AccessDenied)
    async def denied(request: Request, exc: AccessDenied) -> JSONResponse:
        _note(request, 403, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(FilesGoneError)
    async def files_gone(request: Request, exc: FilesGoneError) -> JSONResponse:
        _note(request, 503, str(exc))
        request.app.state.lake.request_reload()  # the next request reads the versions that replaced them
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(TableNameError)
    async def bad_table_name(request: Request, exc: TableNameError) -> JSONResponse:
        # A path that matches tier.domain.table but names no tier (/v1/exports/a.a.a): was a 500.
        _note(request, 400, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(SqlError)
    async def bad_sql(request: Request, exc: SqlError) -> JSONResponse:
        _note(request, 400, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> JSONResponse:
        _note(request, 404, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        _note(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        _note(request, 422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        return JSONResponse({"detail": errors}, status_code=422)
