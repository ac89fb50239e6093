"""Wrong answers to the tutorial exercises, for tests/test_teaching.py.

Workflows live in an importable module (the sandbox re-imports them), so the wrong
answers of exercise 06 cannot be written inside the test file's functions.
"""

from __future__ import annotations

import time

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderState, OrderStatus
    from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH, StepsOrderWorkflow
    from orderflow.workflows import OrderWorkflow


@workflow.defn(name=WORKFLOW_TYPE)
class UnpatchedCoolingOff(StepsOrderWorkflow):
    """The change without a patch: right for new orders, fatal for running ones."""

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        await workflow.sleep(COOLING_OFF)
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()


@workflow.defn(name=WORKFLOW_TYPE)
class ReplayGuessingCoolingOff(StepsOrderWorkflow):
    """Skips the timer whenever it is replaying: replays pass, but it is not a patch
    (a new order that replays after a worker restart would take the other branch)."""

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        if not workflow.unsafe.is_replaying():
            await workflow.sleep(COOLING_OFF)
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()


@workflow.defn(name=WORKFLOW_TYPE)
class PatchedTooLate(StepsOrderWorkflow):
    """Patched, but the timer is placed after the charge: not what was asked."""

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        await self._charge_payment(reservation.total)
        await self._ship()
        if workflow.patched(COOLING_OFF_PATCH):
            await workflow.sleep(COOLING_OFF)
        await self._notify_customer()


@workflow.defn(name=WORKFLOW_TYPE)
class SleepsOnTheWallClock(StepsOrderWorkflow):
    """Patched, but waits with ``time.sleep``: the sandbox refuses it, the order is stuck."""

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        if workflow.patched(COOLING_OFF_PATCH):
            time.sleep(COOLING_OFF.total_seconds())  # noqa: ASYNC251 - the mistake on purpose
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()


# --- answers to exercise 07 (test functions; their source is copied into a test module) -


async def test_only_checks_the_state(orders):
    sku = await orders.product(stock=5)
    final = await orders.place(sku, quantity=2, faults={"charge_payment": {"permanent": True}})
    assert final.state == OrderState.FAILED


async def test_expects_the_stock_to_be_gone(orders):
    sku = await orders.product(stock=5)
    await orders.place(sku, quantity=2, faults={"charge_payment": {"permanent": True}})
    assert await orders.stock(sku) == 3


async def test_asserts_which_class_runs(orders):
    """The shortcut: true for the project's workflow, false for the broken one - and
    judges nothing that happens to an order."""
    assert orders.workflow is OrderWorkflow


async def test_asserts_the_version_through_pytest(orders, request):
    """Digs the version out of pytest's parameters: right on the project's workflow,
    wrong on a refactored one that behaves the same."""
    assert request.node.callspec.params["orders"] == "correct"


def not_a_test_name(orders):
    raise AssertionError("never collected: the name does not start with test_")


async def test_sleeps_forever():
    import asyncio

    await asyncio.sleep(3600)
