"""Operational routes: liveness, readiness, Prometheus metrics, console config, catalog, and
Temporal's own view of a workflow (the original system's ``/api/workflows/{id}/status``).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from temporalio.service import RPCError

from orderflow.api.deps import OrdersDep, SettingsDep, WorkflowIdPath
from orderflow.api.middleware import ApiMetrics
from orderflow.api.responses import TEMPORAL_ERRORS, error, invalid
from orderflow.errors import OrderNotFoundError
from orderflow.links import temporal_ui_url, workflows_url
from orderflow.models import Product, WorkflowDescription

router = APIRouter()

TEMPORAL_DOWN = (RPCError, RuntimeError)
"""An RPC failure, or (lazy clients) the core SDK's "Failed client connect" RuntimeError."""


class ConsoleConfig(BaseModel):
    """What the web console needs, links into the Temporal UI included (None: no UI known)."""

    namespace: str
    task_queue: str
    temporal_ui_url: str | None
    temporal_ui_workflows_url: str | None
    """The namespace's workflow list; a workflow's page is this + ``/`` + its encoded id."""
    allow_faults: bool


class Readiness(BaseModel):
    """What ``/ready`` answers: ready, or why not (``detail``)."""

    status: str | None = Field(None, description="`ready` when ready.")
    detail: str | None = Field(None, description="Why not ready.")
    task_queue: str | None = None
    pollers: dict[str, list[str]] | None = Field(
        None, description="Identities of the workflow and activity pollers Temporal saw."
    )


@router.get("/health", tags=["ops"])
async def health() -> dict[str, str]:
    """Liveness: the process answers HTTP (says nothing about Temporal)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    tags=["ops"],
    responses={
        200: {"model": Readiness, "description": "Temporal answers and a worker polls"},
        503: {"model": Readiness, "description": "Temporal does not answer, or no worker polls"},
    },
)
async def ready(orders: OrdersDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Temporal answers AND some worker polls this API's task queue."""
    try:
        pollers = await orders.pollers()
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


@router.get(
    "/metrics",
    tags=["ops"],
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request, orders: OrdersDep) -> Response:
    """Prometheus text: request counts/latency by route, orders by state."""
    api_metrics: ApiMetrics = request.app.state.metrics
    # Temporal down: still serve the request metrics; order counts keep their last values.
    with suppress(*TEMPORAL_DOWN):
        await api_metrics.refresh_orders(orders)
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/config", tags=["ops"])
async def console_config(settings: SettingsDep) -> ConsoleConfig:
    """Namespace and Temporal UI address, for the console's "open in Temporal UI" links."""
    base = temporal_ui_url(settings)
    return ConsoleConfig(
        namespace=settings.namespace,
        task_queue=settings.task_queue,
        temporal_ui_url=base,
        temporal_ui_workflows_url=workflows_url(base, settings.namespace),
        allow_faults=settings.allow_faults,
    )


@router.get("/api/products", tags=["catalog"])
async def products(orders: OrdersDep) -> list[Product]:
    """The catalog with current stock (prices are decided here, never by the client): the
    skus an order's ``items`` may name."""
    return await orders.catalog()


@router.get(
    "/api/workflows/{workflowId}/status",
    tags=["workflows"],
    responses={
        **error(404, "No such workflow"),
        **invalid("The workflow id does not match the schema"),
        **TEMPORAL_ERRORS,
    },
)
async def workflow_status(workflow_id: WorkflowIdPath, orders: OrdersDep) -> WorkflowDescription:
    """Temporal's execution status of any workflow id (describe)."""
    try:
        return await orders.describe_workflow(workflow_id)
    except OrderNotFoundError:
        raise HTTPException(404, f"workflow {workflow_id!r} not found") from None
