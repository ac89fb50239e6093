"""Operational routes: liveness, readiness, Prometheus metrics, console config, catalog, and
Temporal's own view of a workflow (the original system's ``/api/workflows/{id}/status``).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from orderflow import client as orders
from orderflow.api_routes.deps import ClientDep, SettingsDep, StoreDep, WorkflowIdPath
from orderflow.api_routes.metrics import ApiMetrics
from orderflow.models import Product

router = APIRouter()

READY_RPC_TIMEOUT = timedelta(seconds=3)
TEMPORAL_DOWN = (RPCError, RuntimeError)
"""An RPC failure, or (lazy clients) the core SDK's "Failed client connect" RuntimeError."""
POLLER_FRESHNESS = timedelta(seconds=90)
"""A poller counts as live if it polled this recently (long polls last about a minute)."""


class ConsoleConfig(BaseModel):
    """What the web console needs to build links into the Temporal UI."""

    namespace: str
    task_queue: str
    temporal_ui_url: str
    allow_faults: bool


@router.get("/health", tags=["ops"])
async def health() -> dict[str, str]:
    """Liveness: the process answers HTTP (says nothing about Temporal)."""
    return {"status": "ok"}


@router.get("/ready", tags=["ops"], responses={503: {"description": "Not ready"}})
async def ready(client: ClientDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Temporal answers AND some worker polls this API's task queue."""
    try:
        pollers = await live_pollers(client, settings.task_queue)
    except TEMPORAL_DOWN as error:
        return JSONResponse(
            {"detail": f"Temporal at {settings.address} did not answer: {error}"},
            status_code=503,
        )
    body: dict[str, Any] = {"task_queue": settings.task_queue, "pollers": pollers}
    if not pollers["workflow"] or not pollers["activity"]:
        body["detail"] = f"no worker polls task queue {settings.task_queue!r}"
        return JSONResponse(body, status_code=503)
    body["status"] = "ready"
    return JSONResponse(body)


async def live_pollers(client: Client, task_queue: str) -> dict[str, list[str]]:
    """Identities of workers that recently polled ``task_queue``, per task type."""
    found: dict[str, list[str]] = {}
    now = datetime.now(UTC)
    for name, kind in (
        ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            retry=False,
            timeout=READY_RPC_TIMEOUT,
        )
        found[name] = sorted(
            poller.identity
            for poller in answer.pollers
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESHNESS
        )
    return found


@router.get("/metrics", tags=["ops"], response_class=Response)
async def metrics(request: Request, client: ClientDep) -> Response:
    """Prometheus text: request counts/latency by route, orders by final state."""
    api_metrics: ApiMetrics = request.app.state.metrics
    # Temporal down: still serve the request metrics; order counts keep their last values.
    with suppress(*TEMPORAL_DOWN):
        await api_metrics.refresh_orders(client)
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/config", tags=["ops"])
async def console_config(settings: SettingsDep) -> ConsoleConfig:
    """Namespace and Temporal UI address, for the console's "open in Temporal UI" links."""
    return ConsoleConfig(
        namespace=settings.namespace,
        task_queue=settings.task_queue,
        temporal_ui_url=f"http://127.0.0.1:{settings.ui_port}",
        allow_faults=settings.allow_faults,
    )


@router.get("/api/products", tags=["catalog"])
async def products(store: StoreDep) -> list[Product]:
    """The catalog with current stock (prices are decided here, never by the client)."""
    return await store.list_products()


@router.get(
    "/api/workflows/{workflowId}/status",
    tags=["workflows"],
    responses={404: {"description": "No such workflow"}},
)
async def workflow_status(workflow_id: WorkflowIdPath, client: ClientDep) -> dict[str, Any]:
    """Temporal's execution status of any workflow id (describe)."""
    try:
        return await orders.describe_workflow(client, workflow_id)
    except orders.OrderNotFoundError:
        raise HTTPException(404, f"workflow {workflow_id!r} not found") from None
