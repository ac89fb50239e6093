"""Smaller edges, each reproduced on real parts: bounded caller retry settings and no
Signal per attempt, attempt tracking that cannot hold a result back, database errors that
reach callers without SQL, a cancel with no worker answering 503 in bounded time, Rich
markup in a cancel reason, a private data dir, and two dev servers racing for one port."""

from __future__ import annotations

import asyncio
import stat
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from orderflow.activities import store_call
from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port
from orderflow.errors import NoWorkerError
from orderflow.models import (
    AttemptOutcome,
    OrderRequest,
    OrderState,
    RetrySettings,
    StepName,
    StepStatus,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.tracking import RECORD_WAIT, AttemptTrackingInterceptor
from tests.clirun import run_cli
from tests.conftest import eventually, unique

pytestmark = pytest.mark.usefixtures("worker")


# --- retry storms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry",
    [
        {"maximum_attempts": 0},
        {"maximum_attempts": 21},
        {"initial_interval": 0.01},
        {"initial_interval": 0.1, "maximum_interval": 0.05},
    ],
)
def test_caller_retry_settings_are_bounded(retry: dict) -> None:
    with pytest.raises(ValidationError):
        RetrySettings.model_validate(retry)


async def test_a_retry_storm_is_bounded_sends_no_signals_and_a_cancel_lands(
    orders, client, order_id, product
):
    """The hardest storm a caller may still ask for: every attempt fails, 20 attempts 0.1 s
    apart. Nothing signals the workflow per attempt, and the customer's cancel lands."""
    sku = await product(stock=3)
    await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "storm",
                "items": [{"sku": sku, "quantity": 1}],
                "faults": {"charge_payment": {"fail_rate": 1.0}},
                "retry": {
                    "initial_interval": 0.1,
                    "backoff_coefficient": 1.0,
                    "maximum_interval": 0.1,
                    "maximum_attempts": 20,
                },
            }
        )
    )
    retrying = await eventually(
        lambda: orders.status(order_id),
        lambda s: s.step(StepName.CHARGE_PAYMENT).attempts >= 3,
        what="the payment to be retried",
    )
    charge = retrying.step(StepName.CHARGE_PAYMENT)
    assert charge.status == StepStatus.RETRYING or charge.attempts >= 3
    assert "TransientFailure: payment gateway timed out" in (charge.last_error or "")
    await orders.cancel(order_id, "enough")
    final = await orders.wait(order_id, timeout=30)
    assert final.state == OrderState.CANCELLED
    history = await client.get_workflow_handle(final.workflow_id).fetch_history()
    types = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in types
    assert len(types) < 100, "the history does not grow with the attempts"


# --- attempt tracking never holds a result back ----------------------------------------------


STORES: list[Store] = []
"""The store the busy step makes busy (set by the test; activities take plain arguments)."""


@activity.defn(name="busy_store_step")
async def busy_store_step(hold: float) -> str:
    """An activity whose store is busy with another writer (for ``hold`` s) as it finishes."""
    lock = STORES[0]._write_lock
    assert lock is not None
    await lock.acquire()
    asyncio.get_running_loop().call_later(hold, lock.release)
    return "done"


@workflow.defn(name="BusyStoreWorkflow")
class BusyStoreWorkflow:
    @workflow.run
    async def run(self, hold: float) -> str:
        result: str = await workflow.execute_activity(
            busy_store_step, hold, start_to_close_timeout=timedelta(seconds=2)
        )
        return result


async def test_tracking_waits_for_a_busy_store_only_briefly(client, store, settings):
    """The activity's writer lock is held 3 s by another writer as the attempt ends: the
    attempt still returns within a fraction of a second (never past its 2 s timeout), and
    its row is written once the store is free."""
    STORES[:] = [store]
    task_queue = unique("busy")
    interceptor = AttemptTrackingInterceptor(store, "busy-worker")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BusyStoreWorkflow],
        activities=[busy_store_step],
        interceptors=[interceptor],
    ):
        workflow_id = unique("busy-wf")
        result = await client.execute_workflow(
            BusyStoreWorkflow.run, 3.0, id=workflow_id, task_queue=task_queue
        )
        assert result == "done"
        # Timed by the server (its history), so a loaded test machine cannot blur it.
        events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
        started = [e for e in events if e.HasField("activity_task_started_event_attributes")]
        completed = [e for e in events if e.HasField("activity_task_completed_event_attributes")]
        assert len(started) == 1 and len(completed) == 1, "one attempt, no timeout, no retry"
        assert started[0].activity_task_started_event_attributes.attempt == 1
        took = (
            completed[0].event_time.ToDatetime() - started[0].event_time.ToDatetime()
        ).total_seconds()
        assert took < 2.0, f"the attempt waited {took:.1f} s for its tracking row"
        rows = await eventually(
            lambda: store.attempts(workflow_id), lambda rows: len(rows) == 1, timeout=10
        )
    assert rows[0].outcome == AttemptOutcome.COMPLETED
    assert RECORD_WAIT < 1


# --- database errors reach callers without SQL -------------------------------------------------


async def test_store_errors_become_a_short_retryable_message() -> None:
    error = OperationalError(
        "INSERT INTO payments (idempotency_key) VALUES (?)", {}, Exception("db at 10.0.0.5")
    )
    with pytest.raises(ApplicationError) as raised:
        async with store_call():
            raise error
    assert raised.value.message == "the order store is unavailable (OperationalError)"
    assert raised.value.type == "StoreUnavailable" and not raised.value.non_retryable
    assert raised.value.__cause__ is None


async def test_a_broken_store_shows_no_sql_in_status_or_timeline(client, order_id, tmp_path: Path):
    """A real store missing its notifications table: the failing step's error, as the
    status and the timeline show it, names the problem without SQL."""
    settings = Settings(data_dir=tmp_path, task_queue=unique("broken"))
    broken = await Store.open(settings.store_url)
    try:
        async with broken.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TABLE notifications")
        from orderflow.worker import build_worker

        async with build_worker(client, broken, settings):
            orders = Orders.from_settings(client, broken, settings)
            await broken.put_product("broken-sku", "Broken", Decimal("1.00"), 5)
            await orders.place(
                OrderRequest.model_validate(
                    {
                        "order_id": order_id,
                        "customer_id": "c",
                        "items": [{"sku": "broken-sku", "quantity": 1}],
                        "retry": {"initial_interval": 0.1, "maximum_attempts": 2},
                    }
                )
            )
            final = await orders.wait(order_id, timeout=30)
            timeline = await orders.timeline(order_id)
    finally:
        await broken.close()
    notify = final.step(StepName.NOTIFY_CUSTOMER)
    assert final.state == OrderState.COMPLETED and notify.status == StepStatus.FAILED
    texts = [notify.last_error or ""] + [a.error_message or "" for a in timeline.attempts]
    assert any("the order store is unavailable" in text for text in texts), texts
    for text in texts:
        assert "INSERT" not in text and "notifications" not in text, text


# --- a cancel with no worker answers in bounded time -------------------------------------------


async def test_a_cancel_with_no_worker_answers_no_worker_quickly(client, store, order_id, product):
    sku = await product()
    lonely = Orders(client, store, task_queue=unique("nobody"), update_timeout=timedelta(seconds=1))
    await lonely.place(
        OrderRequest.model_validate(
            {"order_id": order_id, "customer_id": "c", "items": [{"sku": sku, "quantity": 1}]}
        )
    )
    began = time.monotonic()
    with pytest.raises(NoWorkerError, match="no worker accepted the cancel"):
        await lonely.cancel(order_id, "hello?")
    assert time.monotonic() - began < 10
    await lonely.handle(order_id).terminate(reason="test cleanup")


# --- the CLI prints what callers sent as text ----------------------------------------------------


async def test_a_cancel_reason_with_rich_markup_prints_as_text(orders, settings, order_id, product):
    sku = await product()
    await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "c",
                "items": [{"sku": sku, "quantity": 1}],
                "step_delay": 30,
            }
        )
    )
    await orders.cancel(order_id, "[/] [bold]not bold[/bold]")
    await orders.wait(order_id)
    result = await run_cli(settings, "order", "status", order_id)
    assert result.code == 0, result.stderr
    assert "cancel reason: [/] [bold]not bold[/bold]" in result.stdout


# --- private files; one server per port ----------------------------------------------------------


async def test_the_data_dir_and_its_files_are_private(tmp_path: Path):
    data_dir = tmp_path / "private"
    settings = Settings(data_dir=data_dir)
    store = await Store.open(settings.store_url)
    await store.close()
    server = DevServer(
        port=free_port(), ui_port=None, db_file=data_dir / "t.db", log_file=data_dir / "t.log"
    )
    server.start()
    try:
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        for name in ("orderflow.db", "t.db", "t.log"):
            mode = stat.S_IMODE((data_dir / name).stat().st_mode)
            assert mode & 0o077 == 0, f"{name}: {oct(mode)}"
    finally:
        server.stop()


def test_two_starts_on_one_port_give_one_server(tmp_path: Path):
    port = free_port()
    servers = [DevServer(port=port, ui_port=None) for _ in range(2)]
    errors: list[BaseException] = []

    def start(server: DevServer) -> None:
        try:
            server.start()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert sorted(server.owned for server in servers) == [False, True]
    finally:
        for server in servers:
            server.stop()
