"""Optional OpenTelemetry tracing: one trace per order, from the HTTP request to each activity.

Off by default. ``ORDERFLOW_OTEL_EXPORTER=console`` prints finished spans, ``otlp`` sends
them to an OpenTelemetry collector (endpoint and headers from the standard
``OTEL_EXPORTER_OTLP_*`` variables, service name from ``OTEL_SERVICE_NAME``). Needs the
``otel`` extra (``pip install 'orderflow-temporal[otel]'``); without it the package works
as before and only asking for an exporter is an error.

Temporal's own ``OpenTelemetryPlugin`` (``temporalio.contrib.opentelemetry``, the approach
the SDK recommends over the older ``TracingInterceptor``) does the work on the client and in
the worker: registered on the client, it is inherited by every worker built from that
client; it opens ``StartWorkflow``/``RunWorkflow``/``StartActivity``/``RunActivity`` spans
and carries the trace context in Temporal headers, so a span begun in the API process
continues in whichever worker process runs the order. Workflow spans last as long as the
workflow ran and are exported when it ends; they stay correct across replays because the
global tracer provider is the SDK's replay-safe one (``create_tracer_provider``). In front
of that, each HTTP request of the API is a server span (FastAPI's native tracing where
available, else ``TracingMiddleware``), so the whole tree has one root.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import TracerProvider as ApiTracerProvider
    from temporalio.client import Plugin
    from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider

from orderflow import DISTRIBUTION

logger = logging.getLogger(__name__)

Exporter = Literal["none", "console", "otlp"]
EXPORTERS: tuple[str, ...] = ("none", "console", "otlp")
TRACER_NAME = "orderflow"
DEFAULT_SERVICE_NAME = "orderflow"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TracingUnavailableError(RuntimeError):
    """Tracing was asked for but the ``otel`` extra is not installed."""


def tracing_available() -> bool:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
        import temporalio.contrib.opentelemetry  # noqa: F401
    except ImportError:
        return False
    return True


def _require_otel(exporter: str) -> None:
    if not tracing_available():
        raise TracingUnavailableError(
            f"ORDERFLOW_OTEL_EXPORTER={exporter} needs OpenTelemetry: "
            f"pip install '{DISTRIBUTION}[otel]'"
        )


def span_exporter(exporter: str) -> SpanExporter:
    """The span exporter for a setting value (``console`` or ``otlp``)."""
    if exporter not in EXPORTERS or exporter == "none":
        raise ValueError(f"unknown OpenTelemetry exporter {exporter!r}; use one of {EXPORTERS}")
    _require_otel(exporter)
    if exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint/headers: OTEL_EXPORTER_OTLP_* env vars


def make_tracer_provider(exporter: SpanExporter, *, batch: bool = True) -> ReplaySafeTracerProvider:
    """A replay-safe TracerProvider sending spans to ``exporter`` (batched unless told
    otherwise). Temporal's plugin requires this kind as the global provider: its span ids
    are deterministic and spans are not ended again while a workflow replays."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from temporalio.contrib.opentelemetry import create_tracer_provider

    # Resource.create() reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; without them
    # the SDK says "unknown_service", which we replace by our own name.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = create_tracer_provider(resource=resource)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


_installed: ReplaySafeTracerProvider | None = None


def install_tracer_provider(provider: ReplaySafeTracerProvider) -> None:
    """Make ``provider`` the process's global TracerProvider (OpenTelemetry allows this
    once per process): Temporal's plugin and FastAPI's request spans both use the global."""
    from opentelemetry import trace

    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        raise TracingUnavailableError(
            "another OpenTelemetry TracerProvider is already installed in this process; "
            "Temporal's tracing plugin needs the one from "
            "temporalio.contrib.opentelemetry.create_tracer_provider()"
        )


def configure_tracing(exporter: str) -> ReplaySafeTracerProvider | None:
    """Install the global TracerProvider for ``exporter`` once per process; None if off."""
    global _installed
    if exporter == "none":
        return None
    if _installed is None:
        provider = make_tracer_provider(span_exporter(exporter))
        install_tracer_provider(provider)
        _installed = provider
        logger.info("OpenTelemetry tracing on, exporting to %s", exporter)
    return _installed


def shutdown_tracing() -> None:
    """Flush and stop the installed provider. Entry points call this before they exit:
    the CLI leaves through ``os._exit``, which skips the SDK's own atexit flush."""
    global _installed
    if _installed is not None:
        _installed.shutdown()
        _installed = None


def temporal_plugin() -> Plugin:
    """Temporal's OpenTelemetry plugin, with its ``StartWorkflow``/``RunWorkflow``/
    ``StartActivity``/``RunActivity`` spans. It traces through the *global* provider, which
    must come from :func:`make_tracer_provider` (see :func:`install_tracer_provider`)."""
    from temporalio.contrib.opentelemetry import OpenTelemetryPlugin

    return OpenTelemetryPlugin(add_temporal_spans=True)


def temporal_plugins(exporter: str) -> list[Plugin]:
    """Client plugins for ``Client.connect``: Temporal's OpenTelemetry plugin when tracing is
    on (workers built from that client inherit it; never add it to a worker as well),
    else nothing."""
    if exporter == "none":
        return []
    _require_otel(exporter)
    configure_tracing(exporter)
    return [temporal_plugin()]


def fastapi_traces_requests() -> bool:
    """Recent FastAPI releases trace requests themselves (``fastapi.telemetry``: a server
    span per request plus dependency/endpoint/serialization spans, from the global tracer
    provider). A second server span of ours would only split the trace."""
    try:
        return importlib.util.find_spec("fastapi.telemetry") is not None
    except ImportError:
        return False


def trace_requests(app: Any, exporter: str) -> None:
    """Request spans for the orderflow API when tracing is on: FastAPI's own if it has
    them, else :class:`TracingMiddleware` as the outermost middleware."""
    if exporter == "none":
        return
    configure_tracing(exporter)
    if not fastapi_traces_requests():
        app.add_middleware(TracingMiddleware)


def instrument_app(app: ASGIApp, *, tracer_provider: ApiTracerProvider | None = None) -> ASGIApp:
    """Wrap an ASGI app so each HTTP request is a SERVER span (W3C ``traceparent`` honoured).

    Returns ``app`` unchanged when OpenTelemetry is not installed. For any ASGI app; the
    orderflow API uses :func:`trace_requests`, which prefers FastAPI's native tracing.
    """
    if not tracing_available():
        return app
    return TracingMiddleware(app, tracer_provider=tracer_provider)


class TracingMiddleware:
    """A plain ASGI middleware: one span per HTTP request, named ``METHOD /route/{param}``."""

    def __init__(self, app: ASGIApp, *, tracer_provider: ApiTracerProvider | None = None) -> None:
        from opentelemetry import trace

        self.app = app
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        method = scope.get("method", "GET")
        path = scope.get("path", "/")
        with self.tracer.start_as_current_span(
            f"{method} {path}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                # Routers record the matched route; name the span by it (low cardinality).
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
