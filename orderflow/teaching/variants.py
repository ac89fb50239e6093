"""Versions of ``OrderWorkflow`` that the tutorials compare (never on the service's worker).

Every variant keeps the workflow *type name* ``OrderWorkflow``: a new deployment of the
same workflow is exactly the situation in which replay decides whether running orders
survive. They differ only in :meth:`_steps`, the business sequence, so each variant reads
as "what changed":

- :class:`NotifyFirstOrderWorkflow` - the unsafe change: confirmation email before the
  charge. Its commands no longer match histories recorded by the original code.
- :class:`PatchedNotifyFirstOrderWorkflow` - the same change behind
  ``workflow.patched(NOTIFY_FIRST_PATCH)``: orders that went past that point before the
  deployment keep the old order of steps; orders that reach it afterwards, new or not,
  take the new one.
- :class:`DeprecatedPatchOrderWorkflow` - the next deployment, once no order from before
  the patch is left: the old branch removed, ``workflow.deprecate_patch`` in its place.
- :class:`LeakyStockOrderWorkflow` - a deliberately broken saga for tutorial 07: a declined
  card leaves the stock reserved.
- :class:`RefactoredOrderWorkflow` - the original behaviour in another class, for tutorial
  07: a test that passes on ``OrderWorkflow`` must pass on it too.

Register them only on their own task queues (``deployment.teaching_worker``) or in a
``Replayer``: two different definitions polling one task queue would be a real outage.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import (
        WORKFLOW_TYPE,
        OrderRequest,
        OrderState,
        OrderStatus,
        StepName,
        StepStatus,
    )
    from orderflow.workflows import OrderWorkflow

NOTIFY_FIRST_PATCH = "notify-before-charge"
"""Patch id of the tutorial's change. Once recorded in a history it must never be reused."""

COOLING_OFF_PATCH = "cooling-off"
"""Patch id the exercise of tutorial 06 asks for."""

COOLING_OFF = timedelta(seconds=1)
"""The exercise's cooling-off period between reserving and charging (short for the demo)."""


class StepsOrderWorkflow(OrderWorkflow):
    """Base of the variants: ``OrderWorkflow`` with its business sequence in ``_steps``.

    Not a workflow definition itself (no ``@workflow.defn``): each variant below declares
    its own ``run`` (the SDK wants it on the class) and overrides only ``_steps``. The saga
    around the steps (``OrderWorkflow._saga``) is the original's, so a variant that keeps
    the original sequence issues exactly the same commands.
    """


@workflow.defn(name=WORKFLOW_TYPE)
class NotifyFirstOrderWorkflow(StepsOrderWorkflow):
    """UNSAFE change: send the confirmation as soon as stock is reserved, then charge.

    Fine for orders that start on this code; fatal for orders already running, because
    replaying their history the code now schedules ``notify_customer`` where the history
    says ``charge_payment`` was scheduled.
    """

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        await self._notify_customer()  # moved up: this line is the whole change
        await self._charge_payment(reservation.total)
        await self._ship()


@workflow.defn(name=WORKFLOW_TYPE)
class PatchedNotifyFirstOrderWorkflow(StepsOrderWorkflow):
    """The same change made safely: ``workflow.patched`` picks the branch at that point.

    ``patched(id)`` answers "is this point reached for the first time, outside replay?".
    True the first time (it then records a marker in the history) and in a replay that
    finds the marker there; False in a replay of a history that passed this point
    without it, which then takes the old branch and matches its commands. So an order
    that reached the patch before the deployment keeps the old order of steps; one that
    was still reserving when the new code arrived reaches it fresh and takes the new
    branch (only a ``patched`` asked when the run starts keeps every order on the path it
    started on). Once no execution older than the patch can run or be queried, the old
    branch goes and ``patched`` becomes ``workflow.deprecate_patch(NOTIFY_FIRST_PATCH)``
    (:class:`DeprecatedPatchOrderWorkflow`).
    """

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        if workflow.patched(NOTIFY_FIRST_PATCH):
            await self._notify_customer()
            await self._charge_payment(reservation.total)
            await self._ship()
        else:
            await self._charge_payment(reservation.total)
            await self._ship()
            await self._notify_customer()


@workflow.defn(name=WORKFLOW_TYPE)
class DeprecatedPatchOrderWorkflow(StepsOrderWorkflow):
    """The patch retired: only the new path is left, ``deprecate_patch`` marks the spot.

    Safe once no execution started before the patch can still run or be queried: it
    replays histories with the patch marker, but no longer those without it. New
    executions record the marker flagged ``deprecated``; once every history with an
    unflagged marker is gone, the ``deprecate_patch`` line can go too (a deprecated marker
    replays without it, an unflagged one does not). A patch id is never reused.
    """

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        workflow.deprecate_patch(NOTIFY_FIRST_PATCH)
        await self._notify_customer()
        await self._charge_payment(reservation.total)
        await self._ship()


@workflow.defn(name=WORKFLOW_TYPE)
class LeakyStockOrderWorkflow(StepsOrderWorkflow):
    """BROKEN on purpose (tutorial 07): a declined card does not give the stock back.

    The kind of bug a test must catch: the author reasoned "the charge failed, so there is
    nothing to undo" and forgot that the step before it reserved stock. The order still
    ends FAILED with the right error, so a test that only looks at the state passes.
    """

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _compensate(self) -> None:
        charge = self._status.step(StepName.CHARGE_PAYMENT)
        if charge.status == StepStatus.FAILED and not self._cancel_requested:
            workflow.logger.info("order %s: charge failed, nothing to undo", self._order_id)
            self._set_state(OrderState.COMPENSATING)  # ...and the stock is never released
            return
        await super()._compensate()


@workflow.defn(name=WORKFLOW_TYPE)
class RefactoredOrderWorkflow(StepsOrderWorkflow):
    """CORRECT (tutorial 07): the original behaviour, in another class.

    A refactoring changes the code, not what happens to an order. A test that fails on
    this one tests which class runs instead of what the workflow does.
    """

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()
