"""The floor to compare against: a workflow of three no-op activities.

It has the same shape as ``OrderWorkflow`` (three steps, one activity each, same task queue
kind, same start path with eager start) but does no business work: no store, no attempt
tracking, no fault plan, no Query state. Whatever ``OrderWorkflow`` costs above this is
ours; what this costs is the SDK's and the server's. ``LocalBaselineWorkflow`` runs the
same three no-ops as local activities (in the workflow task, no server round trip).

It lives in ``bench/``, not in the package: it is a measuring stick, not a feature.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BASELINE_WORKFLOW = "BaselineWorkflow"
LOCAL_BASELINE_WORKFLOW = "LocalBaselineWorkflow"
STEPS = ("reserve_inventory", "charge_payment", "notify_customer")
STEP_TIMEOUT = timedelta(seconds=5)


@activity.defn(name="baseline_noop")
async def noop(step: str) -> str:
    """Does nothing: measures only scheduling, dispatch and completion."""
    return step


@workflow.defn(name=BASELINE_WORKFLOW)
class BaselineWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        for step in STEPS:
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        return "COMPLETED"


@workflow.defn(name=LOCAL_BASELINE_WORKFLOW)
class LocalBaselineWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        for step in STEPS:
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        return "COMPLETED"


WORKFLOWS = [BaselineWorkflow, LocalBaselineWorkflow]
ACTIVITIES = [noop]
