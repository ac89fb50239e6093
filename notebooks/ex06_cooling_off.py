"""Exercise of 06_determinism_replay_versioning: add a cooling-off period, safely.

Edit this file, save it, and run the check cell of the notebook again.

The change the business asks for: between reserving the stock and charging the card, wait
``COOLING_OFF`` (one second in this demo) so a customer can still change their mind for
free. In a workflow, waiting is a durable timer: ``await workflow.sleep(COOLING_OFF)``.

The catch: orders that are running while you deploy were recorded *without* that timer.
Make the change so that their histories still replay - with
``workflow.patched(COOLING_OFF_PATCH)`` - while new orders get the cooling-off period.
Workflow code must live in a module like this one (the sandbox re-imports it), never in a
notebook cell.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderStatus
    from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH, StepsOrderWorkflow

__all__ = ["COOLING_OFF", "COOLING_OFF_PATCH", "CoolingOffOrderWorkflow"]


@workflow.defn(name=WORKFLOW_TYPE)
class CoolingOffOrderWorkflow(StepsOrderWorkflow):
    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        # TODO: the cooling-off period goes here - without breaking running orders.
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()
