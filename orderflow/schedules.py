"""The Temporal Schedules orderflow runs: the reconciler, every minute by default.

``ensure_reconcile_schedule`` is called when a worker starts (``orderflow up``,
``orderflow worker``, the notebooks): it creates the schedule if it does not exist and
otherwise leaves it alone (an operator may have paused it). One schedule per task queue,
since each task queue has its own workers and store: ``orderflow-reconcile`` for the
default queue, ``orderflow-reconcile-<queue>`` for others. ``temporal schedule list``
shows them; ``orderflow reconcile`` (:meth:`orderflow.orders.Orders.reconcile`) runs one
reconciliation now and prints what it did.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)

from orderflow.config import Settings
from orderflow.models import TASK_QUEUE, ReconcileRequest
from orderflow.workflows.reconcile import RECONCILE_WORKFLOW

logger = logging.getLogger(__name__)

RECONCILE_SCHEDULE = "orderflow-reconcile"


def reconcile_schedule_id(task_queue: str) -> str:
    return RECONCILE_SCHEDULE if task_queue == TASK_QUEUE else f"{RECONCILE_SCHEDULE}-{task_queue}"


def reconcile_request(settings: Settings) -> ReconcileRequest:
    return ReconcileRequest(
        task_queue=settings.task_queue, lookback_seconds=settings.reconcile_lookback
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> str | None:
    """Create the reconciler's schedule unless it exists; its id, or None when disabled."""
    if settings.reconcile_every <= 0:
        return None
    schedule_id = reconcile_schedule_id(settings.task_queue)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILE_WORKFLOW,
            reconcile_request(settings),
            id=schedule_id,  # the scheduled runs are named <id>-<time>
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=10),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_every))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="gives back stock and money of orders closed mid-way"),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return schedule_id
    logger.info(
        "schedule %s created: reconcile task queue %r every %g s",
        schedule_id, settings.task_queue, settings.reconcile_every,
    )  # fmt: skip
    return schedule_id
