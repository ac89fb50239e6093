"""Tracing: one order placed over real HTTP yields one trace from the request to each activity.

An in-memory span exporter collects what the real pieces emit: a uvicorn server wrapped by
``instrument_app``, a client and a worker with Temporal's ``OpenTelemetryPlugin`` (through
``orderflow.tracing``), the session dev server and store. The plugin traces through the
process's global TracerProvider, which OpenTelemetry lets a process set once: this module
installs one (replay-safe, exporting to memory) for the whole test session.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra")

import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider

from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.devserver import free_port
from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderState, ShipmentActivity, StepName
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.tracing import (
    EXPORTERS,
    TracingMiddleware,
    install_tracer_provider,
    instrument_app,
    make_tracer_provider,
    span_exporter,
    temporal_plugin,
    temporal_plugins,
)
from orderflow.worker import BackgroundWorker, build_worker
from tests.conftest import eventually, unique

ORDER_ACTIVITIES = (StepName.RESERVE_INVENTORY, StepName.CHARGE_PAYMENT, StepName.NOTIFY_CUSTOMER)
"""The order's own activities (review is a wait, ship a child workflow with activities)."""


@dataclass
class Traced:
    provider: ReplaySafeTracerProvider
    exporter: InMemorySpanExporter
    client: Client
    task_queue: str


_GLOBAL: tuple[ReplaySafeTracerProvider, InMemorySpanExporter] | None = None


def global_provider() -> tuple[ReplaySafeTracerProvider, InMemorySpanExporter]:
    """The session's global provider (installed on first use; OpenTelemetry allows one)."""
    global _GLOBAL
    if _GLOBAL is None:
        exporter = InMemorySpanExporter()
        provider = make_tracer_provider(exporter, batch=False)
        install_tracer_provider(provider)
        _GLOBAL = provider, exporter
    return _GLOBAL


@pytest.fixture
async def traced(settings: Settings, store: Store) -> AsyncIterator[Traced]:
    provider, exporter = global_provider()
    exporter.clear()
    client = await connect(settings, plugins=[temporal_plugin()])
    task_queue = unique("traced")
    worker_settings = Settings(task_queue=task_queue)
    worker = BackgroundWorker(lambda: build_worker(client, store, worker_settings)).start()
    try:
        yield Traced(provider, exporter, client, task_queue)
    finally:
        await worker.stop()
        exporter.clear()


@pytest.fixture
async def api_url(traced: Traced, store: Store) -> AsyncIterator[str]:
    """A tiny real HTTP app (plain Starlette: request spans come from our middleware)."""

    async def create(http_request: Request) -> JSONResponse:
        order_id = http_request.path_params["order_id"]
        body = await http_request.json()
        request = OrderRequest.model_validate({**body, "order_id": order_id})
        await Orders(traced.client, store, task_queue=traced.task_queue).place(request)
        return JSONResponse({"order_id": order_id}, status_code=201)

    app = Starlette(routes=[Route("/orders/{order_id}", create, methods=["POST"])])

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            instrument_app(app, tracer_provider=traced.provider),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), bool, timeout=10, what="uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with suppress(asyncio.CancelledError):
            await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [span for span in spans if span.name == name]
    assert len(matching) == 1, (name, sorted(span.name for span in spans))
    return matching[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


async def test_one_order_is_one_trace_from_http_request_to_activities(
    traced: Traced,
    api_url: str,
    product: Callable[..., Awaitable[str]],
    order_id: str,
    store: Store,
) -> None:
    sku = await product(stock=3)
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.post(
            f"/orders/{order_id}",
            json={"customer_id": "tracy", "items": [{"sku": sku, "quantity": 1}]},
        )
    assert response.status_code == 201, response.text
    final = await Orders(traced.client, store, task_queue=traced.task_queue).wait(order_id, 20)
    assert final.state == OrderState.COMPLETED

    # Status queries are traces of their own (each starts at its QueryWorkflow call).
    spans = [s for s in traced.exporter.get_finished_spans() if not s.name.endswith("Query:status")]
    request = one(spans, "POST /orders/{order_id}")
    assert request.kind == SpanKind.SERVER and request.parent is None
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 201
    assert request.attributes["url.path"] == f"/orders/{order_id}"

    # The plugin's workflow span lasts as long as the workflow ran and is the parent of
    # every activity it scheduled; each execution nests under the StartActivity span.
    start = one(spans, f"StartWorkflow:{WORKFLOW_TYPE}")
    assert parent_of(start) == request.context.span_id
    run = one(spans, f"RunWorkflow:{WORKFLOW_TYPE}")
    assert parent_of(run) == start.context.span_id
    scheduled = []
    for step in ORDER_ACTIVITIES:
        start_activity = one(spans, f"StartActivity:{step.value}")
        run_activity = one(spans, f"RunActivity:{step.value}")
        assert parent_of(start_activity) == run.context.span_id, step
        assert parent_of(run_activity) == start_activity.context.span_id, step
        assert run_activity.kind == SpanKind.SERVER and start_activity.kind == SpanKind.CLIENT
        assert (run.start_time or 0) <= (run_activity.start_time or 0), step
        assert (run_activity.end_time or 0) <= (run.end_time or 0), step
        scheduled.append(start_activity.start_time or 0)
    # The steps ran in the story's order, inside the request's trace; the shipment (a child
    # workflow) ran its activities between the charge and the notification.
    assert scheduled == sorted(scheduled)
    for step in ShipmentActivity:
        shipped = one(spans, f"RunActivity:{step.value}")
        assert shipped.kind == SpanKind.SERVER
        assert (run.start_time or 0) <= (shipped.start_time or 0) <= (run.end_time or 0), step
    # Every span of the order (the shipment's included) belongs to the request's trace.
    assert {s.context.trace_id for s in spans} == {request.context.trace_id}


async def test_incoming_traceparent_is_continued(traced: Traced) -> None:
    async def ok(scope: object, receive: object, send: Callable[..., Awaitable[None]]) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = TracingMiddleware(ok, tracer_provider=traced.provider)  # type: ignore[arg-type]
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(
            "/health", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        )
    assert response.status_code == 503
    span = one(list(traced.exporter.get_finished_spans()), "GET /health")
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert not span.status.is_ok


def test_tracing_off_by_default_and_exporters_by_setting() -> None:
    assert Settings(_env_file=None).otel_exporter == "none"  # type: ignore[call-arg]
    assert temporal_plugins("none") == []
    assert type(span_exporter("console")).__name__ == "ConsoleSpanExporter"
    assert type(span_exporter("otlp")).__name__ == "OTLPSpanExporter"
    assert EXPORTERS == ("none", "console", "otlp")
    with pytest.raises(ValueError, match="unknown OpenTelemetry exporter"):
        span_exporter("jaeger")
    with pytest.raises(ValueError):
        Settings(_env_file=None, otel_exporter="jaeger")  # type: ignore[call-arg]


def test_cli_exports_spans_to_the_console_by_setting(
    settings: Settings, worker: BackgroundWorker, tmp_path: Path
) -> None:
    """``ORDERFLOW_OTEL_EXPORTER=console`` on a real ``orderflow`` process prints its spans,
    even though the CLI leaves through ``os._exit``."""
    order_id = unique("otel-cli")
    env = {
        **os.environ,
        "ORDERFLOW_OTEL_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "orderflow-cli-test",
    }
    command = [
        str(Path(sys.executable).parent / "orderflow"),
        "--address", settings.address,
        "--task-queue", settings.task_queue, "--data-dir", str(settings.data_dir),
        "order", "create", "--customer", "otel", "--item", "ceramic-mug=1",
        "--order-id", order_id,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"name": "StartWorkflow:OrderWorkflow"' in done.stdout, done.stdout[-2000:]
    assert '"service.name": "orderflow-cli-test"' in done.stdout
    assert f'"temporalWorkflowID": "order-{order_id}"' in done.stdout


def console_spans(output: str) -> list[dict[str, Any]]:
    """The JSON spans ConsoleSpanExporter printed, skipping any other output."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := output.find("{\n", index)) != -1:
        try:
            span, index = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(span, dict) and "context" in span:
            spans.append(span)
    return spans


def spawn(args: list[str], env: dict[str, str], log: IO[str]) -> subprocess.Popen[str]:
    orderflow = str(Path(sys.executable).parent / "orderflow")
    return subprocess.Popen([orderflow, *args], env=env, stdout=log, stderr=subprocess.STDOUT)


async def test_api_and_worker_processes_share_one_trace(
    settings: Settings, client: Client, store: Store, tmp_path: Path
) -> None:
    """``orderflow api`` and ``orderflow worker`` as separate processes, both with
    ``ORDERFLOW_OTEL_EXPORTER=console``: the worker's activity spans continue the trace
    the API's request span started (the context travels in Temporal headers)."""
    port = free_port()
    task_queue = unique("otel-procs")
    env = {
        **os.environ,
        "ORDERFLOW_OTEL_EXPORTER": "console",
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        "ORDERFLOW_TASK_QUEUE": task_queue,
        "TEMPORAL_ADDRESS": settings.address,
    }
    logs = {name: (tmp_path / f"{name}.out").open("w+") for name in ("api", "worker")}
    processes = {
        "api": spawn(["api", "--port", str(port)], env, logs["api"]),
        "worker": spawn(["worker"], env, logs["worker"]),
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def health() -> int:
                try:
                    return (await http.get("/health")).status_code
                except httpx.TransportError:
                    return 0

            await eventually(health, lambda code: code == 200, timeout=45, what="API up")
            order_id = unique("otel-api")
            created = await http.post(
                "/api/orders",
                json={
                    "order_id": order_id,
                    "customer_id": "tracy",
                    "items": [{"sku": "ceramic-mug", "quantity": 1}],
                },
            )
            assert created.status_code == 201, created.text
        final = await Orders(client, store).wait(order_id, 45)
        assert final.state == OrderState.COMPLETED
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    output = {}
    for name, log in logs.items():
        log.seek(0)
        output[name] = log.read()
        log.close()
    api_spans, worker_spans = console_spans(output["api"]), console_spans(output["worker"])

    # FastAPI's native tracing makes the request span; exactly one per request.
    requests = [s for s in api_spans if s["name"] == "POST /api/orders"]
    assert len(requests) == 1, [s["name"] for s in api_spans]
    request = requests[0]
    assert request["kind"] == "SpanKind.SERVER" and request["parent_id"] is None
    assert request["attributes"]["http.response.status_code"] == 201
    trace_id = request["context"]["trace_id"]
    by_id = {s["context"]["span_id"]: s for s in api_spans}
    start = next(s for s in api_spans if s["name"] == f"StartWorkflow:{WORKFLOW_TYPE}")
    chain, parent = [], start["parent_id"]
    while parent is not None:
        chain.append(by_id[parent]["name"])
        parent = by_id[parent]["parent_id"]
    assert chain[-1] == "POST /api/orders", chain
    assert start["context"]["trace_id"] == trace_id
    ran = {s["name"]: s for s in worker_spans if s["context"]["trace_id"] == trace_id}
    for step in [*ORDER_ACTIVITIES, *ShipmentActivity]:
        assert f"RunActivity:{step.value}" in ran, (sorted(ran), output["worker"][-2000:])
    assert ran[f"RunWorkflow:{WORKFLOW_TYPE}"]["parent_id"] == start["context"]["span_id"]
    for span in (request, *ran.values()):
        assert span["resource"]["attributes"]["service.name"] == "orderflow"
