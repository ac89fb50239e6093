"""Talking to Temporal about orders: connect, start, query, cancel, list.

The CLI, the HTTP API, the notebooks and the tests all call these functions with a client
they pass in, so every entry point runs the same code. Errors are translated into the
small :class:`OrderError` family, which the API maps to status codes and the CLI to
one-line messages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from orderflow.config import Settings
from orderflow.models import (
    CANCEL_SIGNAL,
    CANCEL_UPDATE,
    STATUS_QUERY,
    TASK_QUEUE,
    WORKFLOW_TYPE,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderSummary,
    order_id_from_workflow_id,
    order_workflow_id,
)
from orderflow.store import Store
from orderflow.tracing import temporal_interceptors

REQUEST_HASH_MEMO = "request_sha256"


class OrderError(Exception):
    """Base of the errors callers are expected to handle (and show)."""


class OrderNotFoundError(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")


class OrderConflictError(OrderError):
    """The order id exists with a different request body."""


class NotCancellableError(OrderError):
    """The cancel arrived after the order was settled (the Update validator said no)."""


class InvalidOrderError(OrderError):
    """The request is well-formed but cannot be accepted (unknown product, faults off)."""


class TemporalUnavailableError(OrderError):
    """Temporal did not answer at the configured address."""


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Any] | None = None,
) -> Client:
    """Connect with the pydantic data converter and the settings' address, namespace, TLS.

    Unless ``interceptors`` are given, tracing follows ``settings.otel_exporter``: workers
    built from this client inherit the client's tracing interceptor.
    """
    if interceptors is None:
        interceptors = temporal_interceptors(settings.otel_exporter)
    try:
        return await Client.connect(
            **settings.temporal_connect_config,
            data_converter=pydantic_data_converter,
            runtime=runtime,
            interceptors=interceptors,
        )
    except RuntimeError as error:  # the core SDK reports connection failures this way
        raise TemporalUnavailableError(
            f"cannot reach Temporal at {settings.address}: {_short_reason(error)}"
        ) from error


def _short_reason(error: Exception) -> str:
    """The gist of a (long, multi-line) connection error from the Rust core."""
    text = " ".join(str(error).split())
    for gist in ("Connection refused", "timed out", "dns error", "certificate", "Unauthenticated"):
        if gist.lower() in text.lower():
            return gist.lower()
    return text[:160]


def request_hash(request: OrderRequest) -> str:
    canonical = json.dumps(request.fingerprint(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def start_order(
    client: Client,
    request: OrderRequest,
    *,
    store: Store,
    task_queue: str = TASK_QUEUE,
    allow_faults: bool = True,
) -> tuple[OrderRequest, bool]:
    """Validate against the catalog and start the order workflow, idempotently.

    Returns the request (with its order id) and whether this call created the order.
    Repeating a create with the same body returns the existing order; the same id with
    a different body raises :class:`OrderConflictError`. Nothing is started when the
    request is refused.
    """
    request = request.with_order_id()
    if request.faults is not None and not allow_faults:
        raise InvalidOrderError("fault plans are disabled on this server (ORDERFLOW_ALLOW_FAULTS)")
    unknown = await store.unknown_skus([item.sku for item in request.items])
    if unknown:
        raise InvalidOrderError(f"unknown product(s): {', '.join(sorted(unknown))}")
    digest = request_hash(request)
    try:
        await client.start_workflow(
            WORKFLOW_TYPE,
            request,
            id=request.workflow_id,
            task_queue=task_queue,
            memo={REQUEST_HASH_MEMO: digest},
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            request_eager_start=True,
            static_summary=f"order {request.order_id} for {request.customer_id}",
        )
    except WorkflowAlreadyStartedError:
        existing = await client.get_workflow_handle(request.workflow_id).describe()
        if await existing.memo_value(REQUEST_HASH_MEMO, default=None) != digest:
            raise OrderConflictError(
                f"order {request.order_id!r} already exists with a different request"
            ) from None
        return request, False
    return request, True


def order_handle(client: Client, order_id: str) -> WorkflowHandle[Any, OrderStatus]:
    return client.get_workflow_handle(order_workflow_id(order_id), result_type=OrderStatus)


@contextmanager
def _missing_order(
    order_id: str,
    statuses: tuple[RPCStatusCode, ...] = (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT),
) -> Iterator[None]:
    """Turn Temporal's "no such workflow" answer into :class:`OrderNotFoundError`."""
    try:
        yield
    except RPCError as error:
        if error.status in statuses:
            raise OrderNotFoundError(order_id) from error
        raise


async def get_status(client: Client, order_id: str) -> OrderStatus:
    """The order now: the ``status`` Query while it runs, its result once it completed.

    Why not always the Query: querying a closed workflow makes a worker fetch and replay its
    whole history (closed workflows leave the worker's cache), which is slow under load and
    impossible while no worker runs. The workflow returns its final ``OrderStatus`` (what the
    Query would answer), kept in the close event. Describe first: asking for the result of a
    *running* workflow would wait until it closes.
    """
    handle = order_handle(client, order_id)
    with _missing_order(order_id):
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result(follow_runs=False)
        # Running, or closed without a result (terminated, timed out): ask the workflow.
        return await handle.query(STATUS_QUERY, result_type=OrderStatus)


async def wait_for_order(client: Client, order_id: str) -> OrderStatus:
    """Wait until the order is final and return its last status (the workflow result)."""
    return await order_handle(client, order_id).result()


async def cancel_order(client: Client, order_id: str, reason: str = "") -> OrderStatus:
    """Cancel through the ``cancel_order`` Update: rejected synchronously when too late."""
    handle = order_handle(client, order_id)
    try:
        return await handle.execute_update(
            CANCEL_UPDATE, reason or "cancelled by request", result_type=OrderStatus
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise NotCancellableError(message) from error
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # Either no such order, or it has closed: tell the two apart.
        try:
            description = await handle.describe()
        except RPCError:
            raise OrderNotFoundError(order_id) from error
        state = await _closed_state(description)
        raise NotCancellableError(f"order {order_id} is already {state}") from error


async def signal_cancel(client: Client, order_id: str, reason: str = "") -> None:
    """Cancel fire-and-forget (Signal): no answer, ignored by a settled order."""
    with _missing_order(order_id, statuses=(RPCStatusCode.NOT_FOUND,)):
        await order_handle(client, order_id).signal(CANCEL_SIGNAL, reason or "cancelled by request")


_CLOSED_STATES = {
    WorkflowExecutionStatus.COMPLETED: OrderState.COMPLETED,
    WorkflowExecutionStatus.FAILED: OrderState.FAILED,
    WorkflowExecutionStatus.TERMINATED: OrderState.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: OrderState.FAILED,
    WorkflowExecutionStatus.CANCELED: OrderState.CANCELLED,
}


async def _closed_state(execution: Any) -> str:
    state = await execution.memo_value("state", default=None)
    if state:
        return str(state)
    mapped = _CLOSED_STATES.get(execution.status)
    return mapped.value if mapped else OrderState.PROCESSING.value


async def list_orders(client: Client, limit: int = 50) -> list[OrderSummary]:
    """Recent orders, newest first, from Temporal visibility (state and total from memo)."""
    summaries: list[OrderSummary] = []
    async for execution in client.list_workflows(f"WorkflowType = '{WORKFLOW_TYPE}'", limit=limit):
        total = await execution.memo_value("total", default=None)
        summaries.append(
            OrderSummary(
                order_id=order_id_from_workflow_id(execution.id),
                workflow_id=execution.id,
                state=await _closed_state(execution),
                total=total,
                created_at=execution.start_time,
                closed_at=execution.close_time,
            )
        )
    return summaries


async def describe_workflow(client: Client, workflow_id: str) -> dict[str, Any]:
    """Temporal's own view of an execution (the original system's status route)."""
    with _missing_order(order_id_from_workflow_id(workflow_id)):
        description = await client.get_workflow_handle(workflow_id).describe()
    status = description.status
    return {
        "workflow_id": description.id,
        "run_id": description.run_id,
        "workflow_type": description.workflow_type,
        "status": status.name if status else "UNKNOWN",
        "task_queue": description.task_queue,
        "start_time": description.start_time,
        "close_time": description.close_time,
        "history_length": description.history_length,
    }
