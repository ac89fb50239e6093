"""Worker processes for tutorial 02: a real ``orderflow worker`` beside the test, killed with
SIGKILL in the middle of an activity, on the session's dev server and store."""

from __future__ import annotations

import pytest

from orderflow.lab import processes
from orderflow.models import OrderRequest, order_workflow_id
from orderflow.notebook import NotebookEnv
from orderflow.orders import Orders
from orderflow.stack import Stack
from tests.conftest import unique


@pytest.fixture
def own_queue_env(settings, client, store) -> NotebookEnv:
    """An env on a task queue of its own: the processes must not take other tests' orders."""
    mine = settings.model_copy(update={"task_queue": unique("processes")})
    door = Orders(client, store, task_queue=mine.task_queue)
    return NotebookEnv(stack=Stack(mine, client, store, door, None, None, None))


async def test_a_worker_process_runs_an_attempt_and_dies_on_sigkill(own_queue_env, product):
    env = own_queue_env
    worker = await processes.start_worker_process(env, "A")
    try:
        assert worker.alive
        assert worker.identity in (await env.orders.pollers())["activity"]
        assert worker.log_path.parent == env.settings.data_dir.resolve()
        sku = await product()
        request = OrderRequest.model_validate(
            {
                "order_id": unique("killed"),
                "customer_id": "procs",
                "items": [{"sku": sku, "quantity": 1}],
                "faults": {"charge_payment": {"latency": 5}},
            }
        )
        placed = await env.orders.place(request)

        running_on = await processes.wait_for_running_attempt(
            env, placed.order_id, "charge_payment"
        )
        killed_at = worker.kill()

        assert running_on == worker.identity
        assert not worker.alive
        assert worker.process.returncode == -9
        assert worker.killed_at == killed_at
        assert repr(worker) == "WorkerProcess('A', exited (-9))"
    finally:
        worker.kill()
    # The order is not lost: Temporal still has it, waiting for a worker.
    description = await env.client.get_workflow_handle(
        order_workflow_id(placed.order_id)
    ).describe()
    assert description.status is not None and description.status.name == "RUNNING"
    await env.client.get_workflow_handle(order_workflow_id(placed.order_id)).terminate()


async def test_a_worker_process_stops_gracefully(own_queue_env):
    worker = await processes.start_worker_process(own_queue_env, "B")

    worker.stop()

    assert not worker.alive
    assert worker.process.returncode == 0
    assert worker.killed_at is None
    assert "polling task queue" in worker.log()


async def test_waiting_for_an_attempt_that_never_starts_times_out(own_queue_env, product):
    sku = await product()
    request = OrderRequest.model_validate(
        {
            "order_id": unique("nobody"),
            "customer_id": "procs",
            "items": [{"sku": sku, "quantity": 1}],
        }
    )
    placed = await own_queue_env.orders.place(request)  # no worker polls this queue

    with pytest.raises(TimeoutError, match="no worker started reserve_inventory"):
        await processes.wait_for_running_attempt(
            own_queue_env, placed.order_id, "reserve_inventory", timeout=0.5
        )
    await own_queue_env.client.get_workflow_handle(placed.workflow_id).terminate()
