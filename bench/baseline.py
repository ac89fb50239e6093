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

``VisibleBaselineWorkflow`` adds what an order tells Temporal's visibility and nothing else:
the same number of ``UpsertWorkflowSearchAttributes`` commands at the same points (the
order's state, its total, the state again at dispatch and at the end) and the two
``workflow.patched`` markers, each of which makes the SDK upsert ``TemporalChangeVersion``
too: six visibility writes per order that the plain baseline never makes. The distance
between the two baselines is the price of a listable, filterable order state; the
distance from this one to ``OrderWorkflow`` is the order's own work (store, tracking).

It lives in ``bench/``, not in the package: it is a measuring stick, not a feature. Run as
a module it is a worker process (plain ``Worker``, the same slots as ``orderflow worker``):

    python -m bench.baseline --address 127.0.0.1:7233 --task-queue baseline
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.worker import Worker

BASELINE_WORKFLOW = "BaselineWorkflow"
LOCAL_BASELINE_WORKFLOW = "LocalBaselineWorkflow"
VISIBLE_BASELINE_WORKFLOW = "VisibleBaselineWorkflow"
BASELINE_CHILD_WORKFLOW = "BaselineChildWorkflow"
BEFORE_CHILD = ("reserve_inventory", "charge_payment")
AFTER_CHILD = ("notify_customer",)
CHILD_STEPS = ("pack_shipment", "dispatch_shipment")
STEP_TIMEOUT = timedelta(seconds=5)
STATE_KEY = SearchAttributeKey.for_keyword("OrderState")
TOTAL_KEY = SearchAttributeKey.for_float("OrderTotal")
"""The order's own search attributes (``orderflow.models.ORDER_STATE_KEY``, ``ORDER_TOTAL_KEY``,
registered by the dev server helper), named here rather than imported: this module imports
nothing of the package, so the sandbox cost it measures stays the SDK's alone."""


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
    visible = False

    def __init__(self) -> None:
        self._packed = False

    def _publish(self, state: str, total: float | None = None) -> None:
        if not self.visible:
            return
        updates: list[SearchAttributeUpdate[Any]] = [STATE_KEY.value_set(state)]
        if total is not None:
            updates.append(TOTAL_KEY.value_set(total))
        workflow.upsert_search_attributes(updates)

    def _patched(self, patch_id: str) -> None:
        if self.visible:
            workflow.patched(patch_id)

    async def _step(self, step: str) -> None:
        if self.local:
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        else:
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)

    async def _order(self, order_id: str) -> str:
        self._patched("baseline-v2")
        self._publish("PROCESSING")
        for index, step in enumerate(BEFORE_CHILD):
            await self._step(step)
            if index == 0:
                self._publish("PROCESSING", 1.0)  # the order's total, after the reservation
        self._patched("baseline-shipment")
        child = await workflow.start_child_workflow(
            BaselineChildWorkflow.run, order_id, id=f"{workflow.info().workflow_id}-ship"
        )
        await workflow.wait_condition(lambda: self._packed)
        self._publish("PROCESSING")  # dispatching: no longer cancellable
        await child.signal(BaselineChildWorkflow.go)
        await child
        for step in AFTER_CHILD:
            await self._step(step)
        self._publish("COMPLETED")
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


@workflow.defn(name=VISIBLE_BASELINE_WORKFLOW)
class VisibleBaselineWorkflow(_OrderShape):
    visible = True

    @workflow.run
    async def run(self, order_id: str) -> str:
        return await self._order(order_id)


WORKFLOWS = [
    BaselineWorkflow,
    LocalBaselineWorkflow,
    VisibleBaselineWorkflow,
    BaselineChildWorkflow,
]
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
