"""Order routes: create (idempotent), list, status, cancel, attempt timeline, payment ledger.

Routes only call the :class:`~orderflow.orders.Orders` door; the mapping of its
:class:`~orderflow.errors.OrderError` family to status codes lives in
:mod:`orderflow.api.app`. ``POST /api/orders/create`` is the original system's path for create.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from orderflow.api import examples
from orderflow.api.deps import OrderIdPath, OrdersDep
from orderflow.api.responses import (
    NOT_FOUND,
    TEMPORAL_ERRORS,
    RefusedOrderBody,
    Responses,
    error,
    invalid,
)
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

_ERRORS: Responses = {
    **NOT_FOUND,
    **invalid("The order id (or the body) does not match the schema"),
    **TEMPORAL_ERRORS,
}
"""What every per-order route can answer besides its success (the guards are added to every
operation by :mod:`orderflow.api.openapi`)."""

CREATE_REFUSALS = (
    "Refused, nothing started. A list of problems when the body does not match the schema "
    "(a malformed JSON body included), or when it breaks a rule the schema cannot state: a "
    "sku listed twice in `items`, `retry.maximum_interval` below `retry.initial_interval`. "
    "A sentence when the body is well formed but cannot be accepted: a sku that is not in "
    "the catalog (`unknown product(s): ...`; `GET /api/products` lists the catalog), or a "
    "`faults` plan while fault injection is disabled (`ORDERFLOW_ALLOW_FAULTS=false`). "
    "Bounds: 1 to 50 items, quantity 1 to 1000, `step_delay` 0 to 60 s, `retry` at most "
    "20 attempts and at least 0.1 s apart."
)
LOCATION = {"Location": {"description": "The order's status URL", "schema": {"type": "string"}}}


class CancelRequest(BaseModel):
    """Optional body of a cancel: why (shown in the order's status)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=200, examples=["changed my mind"])


def status_url(order_id: str) -> str:
    return f"/api/orders/{order_id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"description": "Order placed: its workflow has started", "headers": LOCATION},
        200: {
            "model": CreateOrderResponse,
            "description": "The same order already exists (an identical repeat changes nothing)",
            "headers": LOCATION,
        },
        **error(409, "The order id exists with a different body, or an earlier order used it"),
        **error(422, CREATE_REFUSALS, RefusedOrderBody),
        **TEMPORAL_ERRORS,
    },
)
@router.post("/create", status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def create_order(
    request: Annotated[OrderRequest, Body(openapi_examples=examples.CREATE_ORDER)],
    response: Response,
    orders: OrdersDep,
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


@router.get("", responses={**invalid("Invalid limit, state or customer_id"), **TEMPORAL_ERRORS})
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
    responses={**_ERRORS, **error(409, "The order can no longer be cancelled")},
)
async def cancel_order(
    order_id: OrderIdPath,
    orders: OrdersDep,
    body: Annotated[CancelRequest | None, Body(openapi_examples=examples.CANCEL_ORDER)] = None,
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
        **invalid("The order id, or the decision (approve or reject), reviewer or note"),
        **error(409, "The order is not awaiting review"),
    },
)
async def review_order(
    order_id: OrderIdPath,
    decision: Annotated[ReviewRequest, Body(openapi_examples=examples.REVIEW_ORDER)],
    orders: OrdersDep,
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
