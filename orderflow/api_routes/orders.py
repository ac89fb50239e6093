"""Order routes: create (idempotent), list, status, cancel, attempt timeline, payment ledger.

Routes only start, query or update workflows (through :mod:`orderflow.client`) and read the
store; the mapping of :class:`~orderflow.client.OrderError` to status codes lives in
:mod:`orderflow.api`. ``POST /api/orders/create`` is the original system's path for create.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from orderflow import client as orders
from orderflow.api_routes.deps import ClientDep, OrderIdPath, SettingsDep, StoreDep
from orderflow.models import (
    AttemptRecord,
    CreateOrderResponse,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderSummary,
    PaymentEntry,
    order_workflow_id,
)

router = APIRouter(prefix="/api/orders", tags=["orders"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such order"},
    422: {"description": "Invalid id or body"},
    503: {"description": "Temporal unavailable"},
}


class CancelRequest(BaseModel):
    """Optional body of a cancel: why (shown in the order's status)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=200)


class Timeline(BaseModel):
    order_id: str
    workflow_id: str
    attempts: list[AttemptRecord]


class PaymentLedger(BaseModel):
    order_id: str
    workflow_id: str
    entries: list[PaymentEntry]
    net_charged: Decimal


def status_url(order_id: str) -> str:
    return f"/api/orders/{order_id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Same order already exists (idempotent repeat)"},
        409: {"description": "Order id exists with a different body"},
        422: {"description": "Invalid body, unknown product, or faults disabled"},
    },
)
@router.post("/create", status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def create_order(
    request: Annotated[OrderRequest, Body()],
    response: Response,
    client: ClientDep,
    store: StoreDep,
    settings: SettingsDep,
) -> CreateOrderResponse:
    """Start an order workflow; repeating the same body with the same id is a no-op (200)."""
    started, created = await orders.start_order(
        client,
        request,
        store=store,
        task_queue=settings.task_queue,
        allow_faults=settings.allow_faults,
    )
    order_id = str(started.order_id)
    state = OrderState.PENDING
    if not created:
        response.status_code = status.HTTP_200_OK
        state = (await orders.get_status(client, order_id)).state
    response.headers["Location"] = status_url(order_id)
    return CreateOrderResponse(
        order_id=order_id,
        workflow_id=started.workflow_id,
        state=state,
        status_url=status_url(order_id),
    )


@router.get("")
async def list_orders(
    client: ClientDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[OrderSummary]:
    """Recent orders, newest first (Temporal visibility; state and total from the memo)."""
    return await orders.list_orders(client, limit=limit)


@router.get("/{orderId}", responses=_ERRORS)
async def get_order(order_id: OrderIdPath, client: ClientDep) -> OrderStatus:
    """The order as its workflow sees it now (``status`` Query, or the result once closed)."""
    return await orders.get_status(client, order_id)


@router.post(
    "/{orderId}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_ERRORS, 409: {"description": "Order can no longer be cancelled"}},
)
async def cancel_order(
    order_id: OrderIdPath,
    client: ClientDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderStatus:
    """Ask the workflow to cancel (``cancel_order`` Update); 409 when it is too late.

    202 because the cancel is accepted, not finished: compensation (refund, release) runs
    afterwards; poll the status until the state is ``CANCELLED``.
    """
    return await orders.cancel_order(client, order_id, body.reason if body else "")


@router.get("/{orderId}/timeline", responses=_ERRORS)
async def get_timeline(order_id: OrderIdPath, client: ClientDep, store: StoreDep) -> Timeline:
    """Every recorded activity attempt of the order, in start order."""
    workflow_id = order_workflow_id(order_id)
    attempts = await store.attempts(workflow_id)
    if not attempts:
        await orders.describe_workflow(client, workflow_id)  # 404 unless the order exists
    return Timeline(order_id=order_id, workflow_id=workflow_id, attempts=attempts)


@router.get("/{orderId}/payments", responses=_ERRORS)
async def get_payments(order_id: OrderIdPath, client: ClientDep, store: StoreDep) -> PaymentLedger:
    """The order's charges and refunds (kind, amount, idempotency key, time)."""
    workflow_id = order_workflow_id(order_id)
    entries = await store.payment_ledger(workflow_id)
    if not entries:
        await orders.describe_workflow(client, workflow_id)  # 404 unless the order exists
    net = sum(
        (entry.amount if entry.kind == "charge" else -entry.amount for entry in entries),
        Decimal("0"),
    )
    return PaymentLedger(
        order_id=order_id, workflow_id=workflow_id, entries=entries, net_charged=net
    )
