"""Several workers: two real ``orderflow worker`` processes, one dev server, one PostgreSQL.

This is the scale-out story end to end, with nothing in-process: the workers are the CLI
users run, configured only through the environment (``ORDERFLOW_DATABASE_URL``), sharing
one task queue. Orders spread across both (the store records the worker identity of every
attempt); one worker is killed with SIGKILL in the middle of a payment, and the other
finishes every order with exactly one charge each.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from bench.drillkit import audit
from bench.drillkit.procs import poller_identities
from orderflow.devserver import DevServer
from orderflow.models import AttemptOutcome, OrderRequest, OrderState, StepName, order_workflow_id
from orderflow.orders import Orders
from orderflow.store import Store
from tests.conftest import eventually, unique
from tests.postgres import PostgresCluster

pytestmark = pytest.mark.postgres

ORDERS = 10
PAYMENT_LATENCY = 1.5
"""Each charge takes this long (heartbeating), so a kill lands in the middle of one."""

ORDERFLOW = Path(sys.executable).parent / "orderflow"


class WorkerProcesses:
    """``orderflow worker`` subprocesses; every one is SIGKILLed in teardown if still alive."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, address: str, task_queue: str, database_url: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "ORDERFLOW_DATABASE_URL": database_url,
            "ORDERFLOW_DATA_DIR": str(self.log_dir),
            "TEMPORAL_NAMESPACE": "default",
        }
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(ORDERFLOW), "--address", address, "--task-queue", task_queue, "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()


def identity(process: subprocess.Popen[bytes]) -> str:
    """The identity ``orderflow worker`` reports (orderflow.worker.default_identity)."""
    import socket

    return f"{process.pid}@{socket.gethostname()}"


async def activity_pollers(client: Client, task_queue: str) -> set[str]:
    return await poller_identities(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def test_two_workers_share_orders_and_survive_a_kill(
    dev_server: DevServer,
    client: Client,
    postgres_cluster: PostgresCluster,
    worker_processes: WorkerProcesses,
) -> None:
    began = time.monotonic()
    database_url = await postgres_cluster.create_database("workers")
    store = await Store.open(database_url)
    task_queue = unique("scaleout")
    try:
        sku = unique("sku")[:32]
        await store.put_product(sku, "Scale-out widget", "5.00", ORDERS)
        first = worker_processes.start(dev_server.address, task_queue, database_url)
        second = worker_processes.start(dev_server.address, task_queue, database_url)
        names = {identity(first), identity(second)}
        try:
            await eventually(
                lambda: activity_pollers(client, task_queue),
                lambda pollers: names <= pollers,
                timeout=45,  # two Python processes starting on a busy 2-core machine
                interval=0.1,
                what="both workers polling",
            )
        except AssertionError:
            pytest.fail(f"workers did not start polling:\n{worker_processes.logs()}")

        order_ids = [unique("mw") for _ in range(ORDERS)]
        for order_id in order_ids:
            request = OrderRequest.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": "scale-out",
                    "items": [{"sku": sku, "quantity": 1}],
                    "faults": {"charge_payment": {"latency": PAYMENT_LATENCY}},
                }
            )
            await Orders(client, store, task_queue=task_queue).place(request)
        workflow_ids = [order_workflow_id(order_id) for order_id in order_ids]

        # Wait until both workers have taken work, then kill the first in mid-payment.
        victim = identity(first)

        async def before_kill() -> tuple[set[str], list[str]]:
            attempts = [a for a in await store.attempts() if a.workflow_id in workflow_ids]
            charging = [
                a.workflow_id
                for a in attempts
                if a.worker == victim
                and a.step == StepName.CHARGE_PAYMENT
                and a.outcome == AttemptOutcome.RUNNING
            ]
            return {a.worker or "" for a in attempts}, charging

        spread, interrupted = await eventually(
            before_kill,
            lambda seen: seen[0] == names and bool(seen[1]),
            timeout=15,
            what="both workers busy and a charge running on the first",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        finals = await asyncio.wait_for(
            asyncio.gather(*(Orders(client, store).wait(order_id) for order_id in order_ids)),
            timeout=40,
        )
        assert [status.state for status in finals] == [OrderState.COMPLETED] * ORDERS, (
            worker_processes.logs()
        )
        assert second.poll() is None, "the surviving worker must still be running"

        # Exactly one charge per order, never a refund, money matches the catalog price.
        payments = await audit.payment_kinds(store, workflow_ids)
        assert payments == {workflow_id: ["charge"] for workflow_id in workflow_ids}
        for workflow_id in workflow_ids:
            assert str(await store.net_charged(workflow_id)) == "5.00"
        assert await store.stock(sku) == 0

        # Work was spread over both workers before the kill; after it only the survivor ran.
        assert spread == names
        attempts = [a for a in await store.attempts() if a.workflow_id in workflow_ids]
        assert {a.worker for a in attempts} == names
        # The interrupted payments stay "running" on the dead worker and were finished by
        # the survivor on a later attempt.
        for workflow_id in interrupted:
            charges = [
                a for a in attempts if a.workflow_id == workflow_id and a.step == "charge_payment"
            ]
            lost = [
                a for a in charges if a.worker == victim and a.outcome == AttemptOutcome.RUNNING
            ]
            done = [a for a in charges if a.outcome == AttemptOutcome.COMPLETED]
            assert lost and len(done) == 1, charges
            assert done[0].worker == identity(second) and done[0].attempt > lost[0].attempt
    finally:
        await store.close()
    assert time.monotonic() - began < 90
