"""The HTTP API and web console: a FastAPI app factory.

``create_app(settings, orders=...)`` builds the app around an :class:`~orderflow.orders.Orders`
door. ``orderflow up`` and ``orderflow api`` pass the door of their stack; tests may pass
nothing, and the app's lifespan then opens a stack of its own from ``settings`` (and closes
it). Routes live in :mod:`orderflow.api.routes`, one module per resource; this module wires
them, maps the :class:`~orderflow.errors.OrderError` family to status codes (every error is
JSON ``{"detail": ...}``) and mounts the console at ``/web/``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from temporalio.service import RPCError, RPCStatusCode

from orderflow import errors
from orderflow.api.middleware import (
    ApiMetrics,
    BodyLimitMiddleware,
    MetricsMiddleware,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
    allowed_hosts,
)
from orderflow.api.routes import orders as order_routes
from orderflow.api.routes import system as system_routes
from orderflow.api.routes import workers as worker_routes
from orderflow.config import Settings
from orderflow.orders import Orders
from orderflow.tracing import trace_requests

if TYPE_CHECKING:
    from orderflow.supervisor import WorkerSupervisor

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent.parent / "web"
MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (413 above it): a create payload is a few hundred bytes."""

_STATUS_BY_ERROR: dict[type[errors.OrderError], int] = {
    errors.OrderNotFoundError: status.HTTP_404_NOT_FOUND,
    errors.OrderConflictError: status.HTTP_409_CONFLICT,
    errors.NotCancellableError: status.HTTP_409_CONFLICT,
    errors.NotAwaitingReviewError: status.HTTP_409_CONFLICT,
    errors.InvalidOrderError: 422,  # Unprocessable Content; its constant's name varies by version
    errors.TemporalUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    errors.NoWorkerError: status.HTTP_503_SERVICE_UNAVAILABLE,
}
_RPC_STATUS = {
    RPCStatusCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED: status.HTTP_503_SERVICE_UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED: status.HTTP_504_GATEWAY_TIMEOUT,
    RPCStatusCode.CANCELLED: status.HTTP_504_GATEWAY_TIMEOUT,
}


def create_app(
    settings: Settings,
    *,
    orders: Orders | None = None,
    workers: WorkerSupervisor | None = None,
) -> FastAPI:
    """The orderflow API + web console, bound to ``settings`` (see module docstring);
    ``workers``: the worker processes its console may stop, kill and start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if orders is not None:
            app.state.orders = orders
            yield
            return
        from orderflow.stack import open_stack

        async with open_stack(settings, devserver="never", worker=False) as stack:
            app.state.orders = stack.orders
            yield

    app = FastAPI(
        title="orderflow",
        summary="Durable order processing on Temporal: orders, cancel, timelines, payments.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = ApiMetrics()
    app.state.workers = workers

    app.include_router(order_routes.router)
    app.include_router(system_routes.router)
    app.include_router(worker_routes.router)
    _add_web_console(app)
    _add_error_handlers(app)

    # Added last = outermost: metrics see every response, including refusals.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(
        RequestGuardMiddleware,
        hosts=allowed_hosts(settings.api_host, settings.allowed_hosts),
        origins=frozenset(settings.cors_origins),
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    trace_requests(app, settings.otel_exporter)  # ORDERFLOW_OTEL_EXPORTER; off by default
    return app


def _add_web_console(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    @app.get("/web", include_in_schema=False)
    async def to_console() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)

    app.mount("/web", StaticFiles(directory=WEB_DIR, html=True), name="web")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.OrderError)
    async def order_error(_request: Request, error: errors.OrderError) -> JSONResponse:
        code = next(
            (code for kind, code in _STATUS_BY_ERROR.items() if isinstance(error, kind)),
            status.HTTP_400_BAD_REQUEST,
        )
        return JSONResponse({"detail": str(error)}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        # Location, message and type of each problem; the offending input is not echoed back.
        problems = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in error.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, error: RPCError) -> JSONResponse:
        code = _RPC_STATUS.get(error.status, status.HTTP_502_BAD_GATEWAY)
        logger.warning(
            "Temporal answered %s to %s %s: %s",
            error.status.name, request.method, request.url.path, error.message,
        )  # fmt: skip
        return JSONResponse(
            {"detail": f"Temporal error ({error.status.name}): {error.message}"}, status_code=code
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
