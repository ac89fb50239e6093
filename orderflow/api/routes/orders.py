"""Order routes: create (idempotent), list, status, cancel, attempt timeline, payment ledger.

Routes only call the :class:`~orderflow.orders.Orders` door; the mapping of its
:class:`~orderflow.errors.OrderError` family to status codes lives in
:mod:`orderflow.api.app`. ``POST /api/orders/create`` is the original system's path for create.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from orderflow.api.deps import OrderIdPath, OrdersDep
from orderflow.models import (
    CreateOrderResponse,
    CustomerId,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderSummary,
    PaymentLedger,
    ReviewRequest,
    Timeline,
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
    request: Annotated[OrderRequest, Body()], response: Response, orders: OrdersDep
) -> CreateOrderResponse:
    """Start an order workflow; repeating the same body with the same id is a no-op (200)."""
    placed = await orders.place(request)
    if not placed.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = status_url(placed.order_id)
    return CreateOrderResponse(
        order_id=placed.order_id,
        workflow_id=placed.workflow_id,
        state=placed.state,
        status_url=status_url(placed.order_id),
    )


@router.get("")
async def list_orders(
    orders: OrdersDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    state: Annotated[OrderState | None, Query(description="Only orders in this state.")] = None,
    customer_id: Annotated[
        CustomerId | None, Query(description="Only this customer's orders.")
    ] = None,
) -> list[OrderSummary]:
    """Recent orders, newest first (Temporal visibility: state, customer and total are the
    order's search attributes)."""
    return await orders.list(limit, state=state, customer_id=customer_id)


@router.get("/{orderId}", responses=_ERRORS)
async def get_order(order_id: OrderIdPath, orders: OrdersDep) -> OrderStatus:
    """The order now: the workflow's ``status`` Query while it runs, with live retries from
    Temporal; its result (or Temporal's close) once it has ended."""
    return await orders.status(order_id)


@router.post(
    "/{orderId}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_ERRORS, 409: {"description": "Order can no longer be cancelled"}},
)
async def cancel_order(
    order_id: OrderIdPath,
    orders: OrdersDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderStatus:
    """Ask the workflow to cancel (``cancel_order`` Update); 409 when it is too late.

    202 because the cancel is accepted, not finished: compensation (refund, release) runs
    afterwards; poll the status until the state is ``CANCELLED``.
    """
    return await orders.cancel(order_id, body.reason if body else "")


@router.post(
    "/{orderId}/review",
    responses={
        **_ERRORS,
        409: {"description": "Order is not awaiting review"},
        422: {"description": "Invalid decision (approve or reject), reviewer or note"},
    },
)
async def review_order(
    order_id: OrderIdPath, decision: Annotated[ReviewRequest, Body()], orders: OrdersDep
) -> OrderStatus:
    """Approve or reject an order awaiting review (``review_order`` Update); 409 unless the
    order awaits one. An approved order goes on to the charge, a rejected one is cancelled."""
    return await orders.review(order_id, decision)


@router.get("/{orderId}/timeline", responses=_ERRORS)
async def get_timeline(order_id: OrderIdPath, orders: OrdersDep) -> Timeline:
    """Every recorded activity attempt of the order, in start order."""
    return await orders.timeline(order_id)


@router.get("/{orderId}/payments", responses=_ERRORS)
async def get_payments(order_id: OrderIdPath, orders: OrdersDep) -> PaymentLedger:
    """The order's charges and refunds (kind, amount, idempotency key, time)."""
    return await orders.ledger(order_id)
