"""Worked solution, exercise of 06_determinism_replay_versioning: a patched cooling-off timer.

``workflow.patched(COOLING_OFF_PATCH)`` answers "is this point reached for the first time,
outside replay?". For a new order it is True (and records a marker in its history); a
replay that finds the marker there gets True again; replaying an order whose history went
past this point without the marker, it is False and the code skips the timer, exactly as
that order ran. An order that was still reserving when this code was deployed reaches the
point fresh and waits too: harmless, the timer comes after the end of its recorded
history. Later, when no order without the marker can still run, the ``if`` becomes
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
