"""Temporal's own cancellation is a third door to the same cancel: the running step is
cancelled and waited for, compensation runs (and cannot itself be cancelled), the order
ends CANCELLED with nothing charged and the stock back. Real dev server, worker, store;
the CLI case goes through the real ``temporal workflow cancel`` command."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from orderflow.devserver import temporal_binary
from orderflow.models import OrderRequest, OrderState, StepName, StepStatus, order_workflow_id
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")


def request(order_id: str, sku: str, **extra) -> OrderRequest:
    return OrderRequest.model_validate(
        {"order_id": order_id, "customer_id": "c", "items": [{"sku": sku, "quantity": 2}]} | extra
    )


async def until_step(orders, order_id: str, step: StepName, status: StepStatus):
    return await eventually(
        lambda: orders.status(order_id),
        lambda s: s.step(step).status == status,
        what=f"{step.value} {status.value}",
    )


async def assert_nothing_kept(store, sku: str, workflow_id: str) -> None:
    assert await store.stock(sku) == 10
    assert await store.net_charged(workflow_id) == Decimal("0")


async def test_temporal_workflow_cancel_after_the_charge_refunds_and_releases(
    orders, store, settings, order_id, product
):
    """The issue's reproduction: once charge_payment completed (the parcel is being
    packed), `temporal workflow cancel`."""
    sku = await product(stock=10, price="6.00")
    await orders.place(request(order_id, sku, faults={"ship": {"latency": 5}}))
    await until_step(orders, order_id, StepName.CHARGE_PAYMENT, StepStatus.COMPLETED)
    assert await store.net_charged(order_workflow_id(order_id)) == Decimal("12.00")

    process = await asyncio.create_subprocess_exec(
        temporal_binary(), "workflow", "cancel", "-w", order_workflow_id(order_id),
        "--address", settings.address, "--namespace", settings.namespace,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()

    final = await orders.wait(order_id, timeout=30)
    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason
    assert not final.cancellable
    steps = {step.name: step.status for step in final.steps}
    assert steps[StepName.CHARGE_PAYMENT] == StepStatus.COMPENSATED
    assert steps[StepName.RESERVE_INVENTORY] == StepStatus.COMPENSATED
    assert steps[StepName.SHIP] == StepStatus.CANCELLED
    assert steps[StepName.NOTIFY_CUSTOMER] == StepStatus.SKIPPED
    await assert_nothing_kept(store, sku, final.workflow_id)
    ledger = [entry.kind for entry in await store.payment_ledger(final.workflow_id)]
    assert ledger == ["charge", "refund"]
    description = await orders.handle(order_id).describe()
    assert description.status == WorkflowExecutionStatus.CANCELED  # what the operator asked


async def test_handle_cancel_during_the_charge_stops_it_then_compensates(
    orders, store, order_id, product
):
    sku = await product(stock=10, price="6.00")
    await orders.place(request(order_id, sku, faults={"charge_payment": {"latency": 3}}))
    await until_step(orders, order_id, StepName.CHARGE_PAYMENT, StepStatus.RUNNING)

    await orders.handle(order_id).cancel()
    final = await orders.wait(order_id, timeout=30)

    assert final.state == OrderState.CANCELLED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.CANCELLED
    await assert_nothing_kept(store, sku, final.workflow_id)
    # The attempt was stopped before compensation ran: its row ends before the refund's.
    attempts = await store.attempts(final.workflow_id)
    charge = next(a for a in attempts if a.step == "charge_payment")
    refund = next(a for a in attempts if a.step == "refund_payment")
    assert charge.finished_at is not None and charge.finished_at <= refund.started_at


async def test_cancel_during_a_step_delay_and_repeated_cancels_change_nothing_more(
    orders, store, order_id, product
):
    sku = await product(stock=10)
    await orders.place(request(order_id, sku, step_delay=30))
    await eventually(
        lambda: orders.status(order_id),
        lambda s: s.state == OrderState.PROCESSING,
        what="processing",
    )
    handle = orders.handle(order_id)
    await handle.cancel()
    await handle.cancel()  # a second request: Temporal keeps one, compensation is not cut
    final = await orders.wait(order_id, timeout=30)
    assert final.state == OrderState.CANCELLED
    assert {step.status for step in final.steps} == {StepStatus.SKIPPED}
    assert await store.stock(sku) == 10
    # Later doors answer "too late", consistently.
    with pytest.raises(Exception, match="already CANCELLED"):
        await orders.cancel(order_id, "again")


async def test_local_activity_cancelled_during_its_retry_backoff_compensates(
    orders, store, client, order_id, product
):
    """A local activity waits out a retry backoff longer than the local-retry threshold on
    a workflow timer; a cancel then ends that wait with ``asyncio.CancelledError``, which
    must not escape the saga (it once failed the run and skipped compensation)."""
    sku = await product(stock=10, price="6.00")
    await orders.place(
        request(
            order_id,
            sku,
            local_activities=True,
            faults={"charge_payment": {"fail_first_n": 10}},
            retry={"initial_interval": 3.0, "backoff_coefficient": 1.0, "maximum_interval": 3.0},
        )
    )

    async def backoff_timer_started() -> bool:
        history = await client.get_workflow_handle(order_workflow_id(order_id)).fetch_history()
        return any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events)

    await eventually(backoff_timer_started, bool, what="the charge's backoff timer")
    await orders.cancel(order_id, "while backing off")
    final = await orders.wait(order_id, timeout=30)

    assert final.state == OrderState.CANCELLED
    assert final.step(StepName.CHARGE_PAYMENT).status == StepStatus.CANCELLED
    await assert_nothing_kept(store, sku, final.workflow_id)
    description = await orders.handle(order_id).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED  # an Update cancel completes


async def test_temporal_cancel_after_dispatch_is_noted_and_the_order_completes(
    orders, store, order_id, product
):
    """Past the point of no return (the parcel left) Temporal's cancellation cannot cancel
    the order any more: it is noted, the running notification finishes, the order completes
    with its one charge (it once failed every workflow task from there on)."""
    sku = await product(stock=10, price="6.00")
    await orders.place(request(order_id, sku, faults={"notify_customer": {"latency": 2}}))
    await until_step(orders, order_id, StepName.NOTIFY_CUSTOMER, StepStatus.RUNNING)

    await orders.handle(order_id).cancel()
    final = await orders.wait(order_id, timeout=30)

    assert final.state == OrderState.COMPLETED
    assert final.shipment is not None and final.shipment.state == "dispatched"
    assert await store.net_charged(final.workflow_id) == Decimal("12.00")
    description = await orders.handle(order_id).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
