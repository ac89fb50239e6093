"""``ReconcileWorkflow``: give back the stock and money of orders Temporal closed mid-way.

Terminating a run, or its run timeout, runs no workflow code, so an order stopped that way
cannot compensate itself; a run that failed on a bug stopped before it could; and orders
cancelled through Temporal by code older than this round let the cancel escape. Their
reservations and charges stay in the store. The reconciler finds them (closed order runs
whose rows still hold stock or money) and releases and refunds each, with the very
idempotency keys compensation uses: whatever ran first, nothing moves twice.

It runs every minute from the Temporal Schedule ``orderflow-reconcile``
(:mod:`orderflow.schedules`), and once on demand with ``orderflow reconcile``. Each run is
bounded (``limit`` orders), so its history stays small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from orderflow.activities import ReconcileActivities
    from orderflow.models import ReconcileReport, ReconcileRequest

RECONCILE_WORKFLOW = "ReconcileWorkflow"
LOOKUP_TIMEOUT = timedelta(seconds=60)
"""Listing closed orders and checking their rows (heartbeats while it pages)."""
REPAIR_TIMEOUT = timedelta(seconds=10)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@workflow.defn(name=RECONCILE_WORKFLOW)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        unsettled = await workflow.execute_activity_method(
            ReconcileActivities.find_unsettled,
            request,
            start_to_close_timeout=LOOKUP_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=RETRY,
        )
        report = ReconcileReport(found=len(unsettled))
        for order in unsettled:
            repair = await workflow.execute_activity_method(
                ReconcileActivities.repair,
                order,
                start_to_close_timeout=REPAIR_TIMEOUT,
                retry_policy=RETRY,
            )
            report.repaired.append(repair)
        workflow.logger.info(
            "reconcile: %d order(s) repaired on task queue %s",
            len(report.repaired),
            request.task_queue,
        )
        return report
