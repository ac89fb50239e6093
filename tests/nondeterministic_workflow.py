"""A deliberately incompatible change of OrderWorkflow, to prove the replay test can fail.

It charges before it reserves: the commands it issues no longer match recorded histories.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderStatus
    from orderflow.workflows import OrderWorkflow


@workflow.defn(name=WORKFLOW_TYPE)
class ReorderedOrderWorkflow(OrderWorkflow):
    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        await self._charge_payment(self._status.total or 0)  # type: ignore[arg-type]
        await self._reserve_inventory()
        return self._status
