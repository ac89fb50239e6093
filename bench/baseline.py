"""The floor to compare against: a no-op workflow of the same shape as a default order.

A default order (below the review threshold, no faults, no step delay) is, in Temporal's
terms: three activities on the order (reserve, charge, notify) with a child workflow
between the second and the third; the child runs one activity (pack), Signals its parent,
waits for the parent's Signal, runs a second activity (dispatch) and returns. No timers.
:class:`BaselineWorkflow` does exactly that with no-op activities: no store, no attempt
tracking, no fault plan, no Query state, no search attributes, no logging. Whatever
``OrderWorkflow`` costs above it is ours; what it costs is the SDK's and the server's.
When the order's shape changes, this file changes with it.

``LocalBaselineWorkflow`` runs the order's own three no-ops as local activities (the order
with ``local_activities``), the child as it is.

It lives in ``bench/``, not in the package: it is a measuring stick, not a feature. Run as
a module it is a worker process (plain ``Worker``, the same slots as ``orderflow worker``):

    python -m bench.baseline --address 127.0.0.1:7233 --task-queue baseline
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

BASELINE_WORKFLOW = "BaselineWorkflow"
LOCAL_BASELINE_WORKFLOW = "LocalBaselineWorkflow"
BASELINE_CHILD_WORKFLOW = "BaselineChildWorkflow"
BEFORE_CHILD = ("reserve_inventory", "charge_payment")
AFTER_CHILD = ("notify_customer",)
CHILD_STEPS = ("pack_shipment", "dispatch_shipment")
STEP_TIMEOUT = timedelta(seconds=5)


@activity.defn(name="baseline_noop")
async def noop(step: str) -> str:
    """Does nothing: measures only scheduling, dispatch and completion."""
    return step


@workflow.defn(name=BASELINE_CHILD_WORKFLOW)
class BaselineChildWorkflow:
    """The shipment's shape: an activity, a Signal to the parent, wait for its go, another."""

    def __init__(self) -> None:
        self._go = False

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.execute_activity(noop, CHILD_STEPS[0], start_to_close_timeout=STEP_TIMEOUT)
        parent = workflow.info().parent
        assert parent is not None
        await workflow.get_external_workflow_handle(
            parent.workflow_id, run_id=parent.run_id
        ).signal("packed")
        await workflow.wait_condition(lambda: self._go)
        return await workflow.execute_activity(
            noop, CHILD_STEPS[1], start_to_close_timeout=STEP_TIMEOUT
        )

    @workflow.signal(name="go")
    def go(self) -> None:
        self._go = True


class _OrderShape:
    """Parent's shape: two activities, the child (with its handshake), one activity."""

    local = False

    def __init__(self) -> None:
        self._packed = False

    async def _step(self, step: str) -> None:
        if self.local:
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        else:
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)

    async def _order(self, order_id: str) -> str:
        for step in BEFORE_CHILD:
            await self._step(step)
        child = await workflow.start_child_workflow(
            BaselineChildWorkflow.run, order_id, id=f"{workflow.info().workflow_id}-ship"
        )
        await workflow.wait_condition(lambda: self._packed)
        await child.signal(BaselineChildWorkflow.go)
        await child
        for step in AFTER_CHILD:
            await self._step(step)
        return "COMPLETED"

    @workflow.signal(name="packed")
    def packed(self) -> None:
        self._packed = True


@workflow.defn(name=BASELINE_WORKFLOW)
class BaselineWorkflow(_OrderShape):
    @workflow.run
    async def run(self, order_id: str) -> str:
        return await self._order(order_id)


@workflow.defn(name=LOCAL_BASELINE_WORKFLOW)
class LocalBaselineWorkflow(_OrderShape):
    local = True

    @workflow.run
    async def run(self, order_id: str) -> str:
        return await self._order(order_id)


WORKFLOWS = [BaselineWorkflow, LocalBaselineWorkflow, BaselineChildWorkflow]
ACTIVITIES = [noop]


async def serve(address: str, task_queue: str) -> None:
    """A plain worker process for the baseline, with ``orderflow worker``'s slot limits.

    The workflows come from ``bench.baseline`` imported by name (under ``python -m`` this
    file is ``__main__``, which the sandbox would not re-import as a user's module is), and
    their bytecode is cached as for ``orderflow worker``, so both sides pay the same
    sandbox cost per run."""
    from bench import baseline as shape
    from orderflow.config import Settings
    from orderflow.worker import cache_workflow_bytecode

    cache_workflow_bytecode(shape.WORKFLOWS)
    defaults = Settings.model_fields
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=shape.WORKFLOWS,
        activities=shape.ACTIVITIES,
        max_concurrent_activities=defaults["max_concurrent_activities"].default,
        max_concurrent_workflow_tasks=defaults["max_concurrent_workflow_tasks"].default,
    )
    await worker.run()


def main() -> None:
    parser = argparse.ArgumentParser(description="The baseline worker process.")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
