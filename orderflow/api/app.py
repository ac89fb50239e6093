"""The HTTP API and web console: a FastAPI app factory.

``create_app(settings, orders=...)`` builds the app around an :class:`~orderflow.orders.Orders`
door. ``orderflow up`` and ``orderflow api`` pass the door of their stack; tests may pass
nothing, and the app's lifespan then opens a stack of its own from ``settings`` (and closes
it). Routes live in :mod:`orderflow.api.routes`, one module per resource; this module wires
them with the error contract of :mod:`orderflow.api.responses` (every error is JSON
``{"detail": ...}``) and the completed schema of :mod:`orderflow.api.openapi`, and mounts the
console at ``/web/``. ``/docs`` (Swagger UI) is served from the assets the
``fastapi-offline`` package ships, so the API docs work with no network, like the console.
There is no ``/redoc``: ReDoc's bundle always fetches its vendor's logo from a remote host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from orderflow.api.middleware import (
    MAX_BODY_BYTES,
    ApiMetrics,
    BodyLimitMiddleware,
    MetricsMiddleware,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
    allowed_hosts,
    codespace_names,
)
from orderflow.api.openapi import contract_openapi, operation_id
from orderflow.api.responses import add_error_handlers
from orderflow.api.routes import orders as order_routes
from orderflow.api.routes import system as system_routes
from orderflow.api.routes import workers as worker_routes
from orderflow.config import Settings
from orderflow.orders import Orders
from orderflow.tracing import trace_requests

if TYPE_CHECKING:
    from orderflow.supervisor import WorkerSupervisor


WEB_DIR = Path(__file__).parent.parent / "web"
__all__ = ["MAX_BODY_BYTES", "create_app"]


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

    app = FastAPIOffline(
        redoc_url=None,
        title="orderflow",
        summary="Durable order processing on Temporal: orders, cancel, timelines, payments.",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from a remote host
    )
    app.state.settings = settings
    app.state.metrics = ApiMetrics()
    app.state.workers = workers

    app.include_router(order_routes.router)
    app.include_router(system_routes.router)
    app.include_router(worker_routes.router)
    _add_web_console(app)
    add_error_handlers(app)
    app.openapi = contract_openapi(app)  # type: ignore[method-assign]

    # Added last = outermost: metrics see every response, including refusals.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    forwarded_hosts, forwarded_origins = codespace_names(settings.api_port)
    app.add_middleware(
        RequestGuardMiddleware,
        hosts=allowed_hosts(settings.api_host, settings.allowed_hosts) | forwarded_hosts,
        origins=frozenset(settings.cors_origins) | forwarded_origins,
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
