"""Worked solution, exercise of 06_determinism_replay_versioning: a patched cooling-off timer.

``workflow.patched(COOLING_OFF_PATCH)`` is True for a new order (and records a marker in
its history) and for a replay that finds that marker; replaying an order recorded before
the change, it is False and the code skips the timer, exactly as that order ran. Later,
when no order from before the change can still run, the ``if`` becomes
``workflow.deprecate_patch(COOLING_OFF_PATCH)`` followed by the sleep; and once no history
with an unflagged (non-deprecated) marker is left, that line goes too.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderStatus
    from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH, StepsOrderWorkflow


@workflow.defn(name=WORKFLOW_TYPE)
class CoolingOffOrderWorkflow(StepsOrderWorkflow):
    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        if workflow.patched(COOLING_OFF_PATCH):
            await workflow.sleep(COOLING_OFF)
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()
