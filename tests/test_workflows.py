"""OrderWorkflow against the real dev server, the real worker and the real SQLite store."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bench.drillkit import audit
from orderflow import errors
from orderflow.models import OrderRequest, OrderState, StepName, StepStatus
from orderflow.orders import Orders
from orderflow.worker import BackgroundWorker
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")

DEFAULT_ORDER_STEPS_DONE = [
    StepStatus.COMPLETED,  # reserve_inventory
    StepStatus.SKIPPED,  # review: below the threshold
    StepStatus.COMPLETED,  # charge_payment
    StepStatus.COMPLETED,  # ship
    StepStatus.COMPLETED,  # notify_customer
]

FAST_RETRY = {"initial_interval": 0.1, "backoff_coefficient": 1.0, "maximum_interval": 0.2}


async def place(
    orders: Orders,
    order_id: str,
    sku: str,
    quantity: int = 1,
    **extra: Any,
) -> OrderRequest:
    request = OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": "cust-1",
            "items": [{"sku": sku, "quantity": quantity}],
            **extra,
        }
    )
    placed = await orders.place(request)
    assert placed.created
    return placed.request


async def test_happy_path_completes_and_moves_stock_and_money(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=10, price="7.50")
    await place(orders, order_id, sku, quantity=3)

    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    assert [step.status for step in final.steps] == DEFAULT_ORDER_STEPS_DONE
    assert final.total == Decimal("22.50")
    assert await store.stock(sku) == 7
    ledger = await store.payment_ledger(final.workflow_id)
    assert [(entry.kind, entry.amount) for entry in ledger] == [("charge", Decimal("22.50"))]
    attempts = await store.attempts(final.workflow_id)
    assert [(a.step, a.attempt, a.outcome) for a in attempts] == [
        ("reserve_inventory", 1, "completed"),
        ("charge_payment", 1, "completed"),
        ("notify_customer", 1, "completed"),
    ]
    # The Query after completion answers the same as the result.
    assert (await orders.status(order_id)).state == OrderState.COMPLETED


async def test_transient_failures_are_retried_and_every_attempt_is_recorded(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    await place(
        orders,
        order_id,
        sku,
        faults={"charge_payment": {"fail_first_n": 2}},
        retry=FAST_RETRY,
    )

    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    charge = final.step(StepName.CHARGE_PAYMENT)
    assert charge.attempts == 3
    assert "payment gateway timed out" in (charge.last_error or "")
    attempts = [a for a in await store.attempts(final.workflow_id) if a.step == "charge_payment"]
    assert [(a.attempt, a.outcome, a.error_type) for a in attempts] == [
        (1, "failed", "TransientFailure"),
        (2, "failed", "TransientFailure"),
        (3, "completed", None),
    ]
    assert len(await store.payment_ledger(final.workflow_id)) == 1


async def test_query_shows_retrying_while_retries_run(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    await place(
        orders,
        order_id,
        sku,
        faults={"reserve_inventory": {"fail_first_n": 3}},
        retry={"initial_interval": 0.5, "backoff_coefficient": 1.0},
    )

    live = await eventually(
        lambda: orders.status(order_id),
        lambda s: (
            s.step(StepName.RESERVE_INVENTORY).status == StepStatus.RETRYING
            and s.step(StepName.RESERVE_INVENTORY).attempts >= 2
        ),
        what="reserve_inventory to show retrying",
    )
    assert live.state == OrderState.PROCESSING
    assert live.cancellable
    final = await orders.wait(order_id)
    assert final.step(StepName.RESERVE_INVENTORY).attempts == 4


async def test_retries_give_up_after_maximum_attempts_and_compensate(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=5)
    await place(
        orders,
        order_id,
        sku,
        faults={"charge_payment": {"fail_first_n": 10}},
        retry={**FAST_RETRY, "maximum_attempts": 3},
    )

    final = await orders.wait(order_id)

    assert final.state == OrderState.FAILED
    assert final.step(StepName.CHARGE_PAYMENT).attempts == 3
    assert final.step(StepName.RESERVE_INVENTORY).status == StepStatus.COMPENSATED
    assert await store.stock(sku) == 5
    assert await store.net_charged(final.workflow_id) == 0


async def test_out_of_stock_fails_without_charge_and_leaves_stock(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=2)
    await place(orders, order_id, sku, quantity=5)

    final = await orders.wait(order_id)

    assert final.state == OrderState.FAILED
    assert final.error == f"out of stock: {sku} has 2 left, 5 requested"
    assert final.step(StepName.RESERVE_INVENTORY).attempts == 1  # non-retryable
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.SKIPPED
    assert await store.stock(sku) == 2
    assert await store.net_charged(final.workflow_id) == 0
    assert [e.kind for e in await store.payment_ledger(final.workflow_id)] == []


async def test_declined_card_fails_and_releases_stock(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=4)
    await place(
        orders,
        order_id,
        sku,
        quantity=3,
        faults={"charge_payment": {"permanent": True}},
    )

    final = await orders.wait(order_id)

    assert final.state == OrderState.FAILED
    assert final.error == "card declined by the issuer"
    assert final.step(StepName.CHARGE_PAYMENT).attempts == 1
    assert final.step(StepName.RESERVE_INVENTORY).status == StepStatus.COMPENSATED
    assert await store.stock(sku) == 4
    assert await store.net_charged(final.workflow_id) == 0


async def test_cancel_before_payment_releases_stock(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=3)
    await place(orders, order_id, sku, quantity=2, step_delay=3)
    # Wait until the stock is reserved and the workflow sits in the delay before payment.
    await eventually(
        lambda: orders.status(order_id),
        lambda s: s.step(StepName.RESERVE_INVENTORY).status == StepStatus.COMPLETED,
        timeout=45,
        what="reservation",
    )
    assert await store.stock(sku) == 1

    accepted = await orders.cancel(order_id, "changed my mind")
    assert accepted.cancel_reason == "changed my mind"
    assert not accepted.cancellable
    final = await orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.step(StepName.RESERVE_INVENTORY).status == StepStatus.COMPENSATED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.SKIPPED
    assert await store.stock(sku) == 3
    assert await store.payment_ledger(final.workflow_id) == []


async def test_cancel_after_payment_refunds(client, store, settings, order_id, product, orders):
    sku = await product(stock=3, price="5.00")
    await place(
        orders,
        order_id,
        sku,
        quantity=1,
        faults={"ship": {"latency": 20}},  # paid, still packing: not yet dispatched
    )
    await eventually(
        lambda: orders.status(order_id),
        lambda s: s.step(StepName.CHARGE_PAYMENT).status == StepStatus.COMPLETED,
        what="payment",
    )

    await orders.cancel(order_id, "too slow")
    final = await orders.wait(order_id)

    assert final.state == OrderState.CANCELLED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.COMPENSATED
    ledger = await store.payment_ledger(final.workflow_id)
    assert [(e.kind, e.amount) for e in ledger] == [
        ("charge", Decimal("5.00")),
        ("refund", Decimal("5.00")),
    ]
    assert await store.net_charged(final.workflow_id) == 0
    assert await store.stock(sku) == 3


async def test_cancel_signal_also_cancels(client, store, settings, order_id, product, orders):
    sku = await product(stock=1)
    await place(orders, order_id, sku, step_delay=30)
    await orders.cancel(order_id, "by signal", signal=True)
    final = await orders.wait(order_id)
    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason == "by signal"
    assert await store.stock(sku) == 1


async def test_cancel_after_completion_is_rejected(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    await place(orders, order_id, sku)
    await orders.wait(order_id)

    with pytest.raises(errors.NotCancellableError, match="already COMPLETED"):
        await orders.cancel(order_id)
    assert (await orders.status(order_id)).state == OrderState.COMPLETED


async def test_second_cancel_is_rejected_by_the_validator(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    await place(orders, order_id, sku, step_delay=30)
    await orders.cancel(order_id, "first")
    with pytest.raises(errors.NotCancellableError):
        await orders.cancel(order_id, "second")
    assert (await orders.wait(order_id)).cancel_reason == "first"


async def test_failed_notification_still_completes_the_paid_order(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=2)
    await place(orders, order_id, sku, faults={"notify_customer": {"permanent": True}})

    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    assert final.step(StepName.NOTIFY_CUSTOMER).status == StepStatus.FAILED
    assert final.step(StepName.NOTIFY_CUSTOMER).last_error == "customer address rejected"
    assert await store.net_charged(final.workflow_id) == Decimal("10.00")
    assert await store.stock(sku) == 1


async def test_hung_attempt_times_out_and_is_retried(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    await place(
        orders,
        order_id,
        sku,
        faults={"notify_customer": {"timeout": True}},
        retry=FAST_RETRY,
    )

    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    notify = final.step(StepName.NOTIFY_CUSTOMER)
    assert notify.attempts == 2
    timed_out = await eventually(
        lambda: store.attempts(final.workflow_id),
        lambda rows: any(r.outcome == "timed_out" for r in rows),
        what="the hung attempt to be recorded",
    )
    assert [r.attempt for r in timed_out if r.step == "notify_customer"] == [1, 2]


async def test_same_order_twice_is_idempotent_and_a_different_body_conflicts(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=10)
    request = OrderRequest(order_id=order_id, customer_id="c", items=[{"sku": sku, "quantity": 1}])
    first = await orders.place(request)
    again = await orders.place(request)
    assert (first.created, again.created) == (True, False)

    different = request.model_copy(update={"customer_id": "someone-else"})
    with pytest.raises(errors.OrderConflictError):
        await orders.place(different)

    await orders.wait(order_id)
    # Still idempotent after completion: no second workflow, no second charge.
    assert (await orders.place(request)).created is False
    assert await store.stock(sku) == 9
    assert len(await store.payment_ledger(request.workflow_id)) == 1


async def test_unknown_product_and_disabled_faults_start_nothing(
    client, store, settings, order_id, orders
):
    request = OrderRequest(
        order_id=order_id, customer_id="c", items=[{"sku": "no-such-sku", "quantity": 1}]
    )
    with pytest.raises(errors.InvalidOrderError, match="no-such-sku"):
        await orders.place(request)
    faulty = OrderRequest(
        order_id=order_id,
        customer_id="c",
        items=[{"sku": "ceramic-mug", "quantity": 1}],
        faults={"charge_payment": {"fail_first_n": 1}},
    )
    with pytest.raises(errors.InvalidOrderError, match="disabled"):
        await Orders(client, store, task_queue=settings.task_queue, allow_faults=False).place(
            faulty
        )
    with pytest.raises(errors.OrderNotFoundError):
        await orders.status(order_id)


async def test_hundred_concurrent_orders_on_twenty_units_sell_exactly_twenty(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=20)
    ids = [f"{order_id}-{n}" for n in range(100)]
    await asyncio.gather(*(place(orders, oid, sku) for oid in ids))

    finals = await asyncio.gather(*(orders.wait(oid) for oid in ids))

    states = [final.state for final in finals]
    assert states.count(OrderState.COMPLETED) == 20
    assert states.count(OrderState.FAILED) == 80
    assert all("out of stock" in (f.error or "") for f in finals if f.state == OrderState.FAILED)
    assert await store.stock(sku) == 0
    charges = await audit.payment_kinds(store, [f.workflow_id for f in finals])
    assert sorted(len(kinds) for kinds in charges.values() if "charge" in kinds) == [1] * 20


async def test_worker_restart_mid_order_resumes(
    client, store, settings, order_id, product, worker: BackgroundWorker, orders
):
    """Durable execution: stop the only worker mid-order, start a new one, the order finishes."""
    from orderflow.worker import build_worker

    sku = await product(stock=5)
    await worker.stop()
    try:
        await place(orders, order_id, sku, step_delay=0.2)
        # No worker: the order waits durably in Temporal.
        replacement = BackgroundWorker(lambda: build_worker(client, store, settings)).start()
        final = await orders.wait(order_id)
        await replacement.stop()
    finally:
        worker.start()
    assert final.state == OrderState.COMPLETED
    assert await store.stock(sku) == 4
