"""The reconciler gives back what orders Temporal closed mid-way still hold, exactly once.

Terminate and run timeouts run no workflow code, so these orders cannot compensate; the
``orderflow-reconcile`` Schedule's ``ReconcileWorkflow`` finds them (visibility + store)
and releases and refunds with compensation's own idempotency keys. Real dev server,
worker, store and Temporal Schedule.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client

from orderflow.config import Settings
from orderflow.devserver import temporal_binary
from orderflow.models import OrderRequest, OrderState, StepName, StepStatus
from orderflow.orders import Orders
from orderflow.schedules import ensure_reconcile_schedule, reconcile_schedule_id
from tests.clirun import run_cli
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")


def request(order_id: str, sku: str, **extra) -> OrderRequest:
    return OrderRequest.model_validate(
        {"order_id": order_id, "customer_id": "rc", "items": [{"sku": sku, "quantity": 2}]} | extra
    )


async def terminate_mid_payment(orders: Orders, order_id: str, sku: str) -> None:
    await orders.place(request(order_id, sku, faults={"charge_payment": {"latency": 1.5}}))
    await eventually(
        lambda: orders.status(order_id),
        lambda s: s.step(StepName.CHARGE_PAYMENT).status == StepStatus.RUNNING,
        what="the charge to run",
    )
    await orders.handle(order_id).terminate(reason="operator says stop")


@pytest.fixture
async def schedule(client: Client, settings: Settings) -> AsyncIterator[str]:
    """The reconciler's Schedule on the test task queue, every 2 s (the product's is 60 s)."""
    fast = settings.model_copy(update={"reconcile_every": 2.0})
    schedule_id = await ensure_reconcile_schedule(client, fast)
    assert schedule_id == reconcile_schedule_id(settings.task_queue)
    try:
        yield schedule_id
    finally:
        await client.get_schedule_handle(schedule_id).delete()


async def test_a_terminated_order_is_repaired_by_the_schedule_exactly_once(
    orders, store, order_id, product, schedule, settings
):
    sku = await product(stock=10, price="5.00")
    await terminate_mid_payment(orders, order_id, sku)
    workflow_id = f"order-{order_id}"
    assert await store.stock(sku) == 8  # the terminated run left its reservation behind

    async def repaired() -> tuple[int, Decimal, int]:
        return (
            await store.stock(sku),
            await store.net_charged(workflow_id),
            len(await store.repairs_of(workflow_id)),
        )

    assert await eventually(repaired, lambda r: r == (10, Decimal("0"), 1), timeout=30) == (
        10,
        Decimal("0"),
        1,
    )
    # The charge attempt the terminate interrupted may still land: refused, never doubled.
    status = await orders.status(order_id)
    assert status.state == OrderState.FAILED
    assert "terminated in Temporal (operator says stop)" in (status.error or "")
    assert "the reconciler released the stock" in (status.error or "")

    # Later runs (of the schedule, or on demand) find nothing more to give back.
    again = await orders.reconcile()
    assert [r.workflow_id for r in again.repaired] == []
    assert await repaired() == (10, Decimal("0"), 1)
    kinds = [entry.kind for entry in await store.payment_ledger(workflow_id)]
    assert kinds in (["charge", "refund"], ["void"]), kinds

    listed = await _temporal(settings, "schedule", "list")
    assert schedule in listed


async def test_reconcile_on_demand_from_the_cli_and_nothing_for_settled_orders(
    orders, store, order_id, product, settings
):
    sku = await product(stock=10, price="5.00")
    await orders.place(request(f"{order_id}-ok", sku))
    await orders.wait(f"{order_id}-ok")
    await terminate_mid_payment(orders, order_id, sku)

    result = await run_cli(settings, "reconcile", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    repaired = {r["order_id"]: r for r in report["repaired"]}
    assert set(repaired) >= {order_id}
    assert f"{order_id}-ok" not in repaired
    assert repaired[order_id]["released"] is True
    assert await store.stock(sku) == 8  # 10 - 2 for the completed order, nothing else held

    again = await run_cli(settings, "reconcile")
    assert again.code == 0, again.stderr
    assert order_id not in again.stdout


async def test_a_timed_out_order_is_repaired(client, orders, store, order_id, product, settings):
    sku = await product(stock=10, price="5.00")
    handle = await client.start_workflow(
        "OrderWorkflow",
        request(order_id, sku, faults={"charge_payment": {"latency": 5}}),
        id=f"order-{order_id}",
        task_queue=settings.task_queue,
        run_timeout=timedelta(seconds=2),
    )
    await eventually(
        lambda: handle.describe(),
        lambda d: d.status is not None and d.status.name == "TIMED_OUT",
        timeout=30,
        what="the run timeout",
    )
    report = await orders.reconcile()
    assert order_id in {r.order_id for r in report.repaired}
    await eventually(
        lambda: store.stock(sku), lambda stock: stock == 10, what="stock back after a zombie"
    )
    assert await store.net_charged(f"order-{order_id}") == Decimal("0")
    assert (await orders.status(order_id)).state == OrderState.FAILED


async def _temporal(settings: Settings, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, "--address", settings.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()
