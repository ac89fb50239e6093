"""A workflow bug to rescue (tutorial 09): the payment settlement wait written in hours.

The story: the payment provider asks merchants to wait a moment after a large charge before
shipping, until the charge has *settled*. A developer adds that wait and writes
``timedelta(hours=SETTLEMENT_WAIT)`` where seconds were meant. Small orders never take the
branch and complete; every order of at least ``SETTLEMENT_THRESHOLD`` is charged and then
sits on a two-hour durable timer: stuck on a bad code path, with the customer's money taken.

- :class:`SettlementBugOrderWorkflow` is the build with the bug.
- :class:`SettlementFixedOrderWorkflow` is the fix: seconds. It replays the buggy build's
  histories (a timer is a timer, whatever its length), so deploying it breaks nothing - and
  rescues nothing either: the two-hour timer is already recorded, and the server fires it
  when it is due. Resetting a stuck order to the workflow task that started the timer makes
  the fixed code decide again (:func:`orderflow.ops.reset_workflow`).

Like every teaching variant these share the type name ``OrderWorkflow`` and run only on a
task queue of their own (:mod:`orderflow.teaching.deployment`).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderStatus
    from orderflow.teaching.variants import StepsOrderWorkflow

SETTLEMENT_THRESHOLD = Decimal("50.00")
"""Orders from this total wait for their charge to settle before they ship."""

SETTLEMENT_WAIT = 2
"""How long the provider asks to wait: 2 *seconds* (short for the demo)."""

SETTLEMENT_DETAILS = "waiting for the charge to settle"


class _SettlementOrderWorkflow(StepsOrderWorkflow):
    """The order with a settlement wait between the charge and the shipment."""

    settlement_wait = timedelta(seconds=SETTLEMENT_WAIT)

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        await self._charge_payment(reservation.total)
        if reservation.total >= SETTLEMENT_THRESHOLD:
            await self._wait_for_settlement()
        await self._ship()
        await self._notify_customer()

    async def _wait_for_settlement(self) -> None:
        """A durable timer that a cancel cuts short (like the order's own step delay)."""
        workflow.set_current_details(f"{SETTLEMENT_DETAILS} ({self.settlement_wait})")
        workflow.logger.info(
            "order %s: %s for %s", self._order_id, SETTLEMENT_DETAILS, self.settlement_wait
        )
        with suppress(TimeoutError):  # the builtin one: the wait is over
            await workflow.wait_condition(self._cancel_arrived, timeout=self.settlement_wait)
        self._notice_temporal_cancel()
        self._stop_if_cancel_requested()


@workflow.defn(name=WORKFLOW_TYPE)
class SettlementBugOrderWorkflow(_SettlementOrderWorkflow):
    """BUGGY on purpose: waits ``SETTLEMENT_WAIT`` *hours* after charging a large order."""

    settlement_wait = timedelta(hours=SETTLEMENT_WAIT)  # the bug: hours, not seconds

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()


@workflow.defn(name=WORKFLOW_TYPE)
class SettlementFixedOrderWorkflow(_SettlementOrderWorkflow):
    """The fix: ``SETTLEMENT_WAIT`` seconds. Replays the buggy build's histories."""

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()
