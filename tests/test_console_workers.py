"""The widget console's worker controls, clicked like a person would, on real processes:
kill the worker mid-order, start it again, the order completes with one charge; and the
refusal when the server is not the one the kit started."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from orderflow.lab.console import OrderConsole
from orderflow.models import PaymentKind, StepName, order_workflow_id
from orderflow.orders import Orders
from orderflow.supervisor import WorkerState, WorkerSupervisor
from tests.conftest import eventually, unique


async def click(console: OrderConsole, button: Any) -> Any:
    """A click schedules a task and returns at once; wait for the handler's result."""
    before = console.last_task
    button.click()
    task = console.last_task
    assert task is not None and task is not before
    return await task


@pytest.fixture
async def console_with_workers(
    request, client, store, settings, dev_server
) -> AsyncIterator[OrderConsole]:
    queue = settings.model_copy(update={"task_queue": unique("widget-workers")})
    server = dev_server if request.param == "own" else None
    supervisor = WorkerSupervisor(client, queue, server=server, count=1)
    await supervisor.start_all()
    console = OrderConsole(
        Orders.from_settings(client, store, queue), refresh_every=None, workers=supervisor
    )
    try:
        await supervisor.wait_running()
        await console.start()
        yield console
    finally:
        await console.close()
        await supervisor.close()


@pytest.mark.parametrize("console_with_workers", ["own"], indirect=True)
async def test_kill_from_the_widget_mid_order_then_start_one_charge(
    console_with_workers, store, product, order_id
):
    console = console_with_workers
    panel = console.workers_panel
    assert panel is not None
    kill, start = panel.buttons[("worker-1", "kill")], panel.buttons[("worker-1", "start")]
    assert not kill.disabled and start.disabled  # running: it can be killed, not started
    assert "running" in panel.states["worker-1"].value

    sku = await product(stock=3, price="9.00")
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    console.faults[StepName.CHARGE_PAYMENT].value = "slow (3 s)"
    await click(console, console.create_button)
    workflow_id = order_workflow_id(order_id)
    await eventually(
        lambda: store.attempts(workflow_id),
        lambda attempts: any(a.step == "charge_payment" for a in attempts),
        what="the charge to start",
    )

    killed = await click(console, kill)
    assert killed.state == WorkerState.KILLED
    assert console.message_text == "worker-1: killed."
    assert kill.disabled and not start.disabled
    started = await click(console, start)
    assert started.identity == "worker-1.2"
    final = await console.orders.wait(order_id, timeout=60)

    assert final.state == "COMPLETED"
    ledger = await store.payment_ledger(workflow_id)
    assert [(e.kind, e.amount) for e in ledger] == [(PaymentKind.CHARGE, Decimal("9.00"))]
    await console.refresh()
    assert console.selected_status is not None and console.selected_status.state == "COMPLETED"


@pytest.mark.parametrize("console_with_workers", ["reused"], indirect=True)
async def test_widget_controls_refuse_on_a_server_the_kit_did_not_start(console_with_workers):
    console = console_with_workers
    panel = console.workers_panel
    assert panel is not None
    assert "not started by this process" in panel.note.value
    assert all(button.disabled for button in panel.buttons.values())

    assert await click(console, panel.buttons[("worker-1", "kill")]) is None  # forced click
    assert "not started by this process" in console.message_text
    process = console.workers.process("worker-1")  # type: ignore[union-attr]
    assert process is not None and process.poll() is None
