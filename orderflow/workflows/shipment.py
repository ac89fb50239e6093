"""``ShipmentWorkflow``: the order's parcel, a child workflow of ``OrderWorkflow``.

Two steps with a point of no return between them: ``pack`` (undoable: ``unpack``), then
``dispatch`` (the carrier has it). The order decides when that point is passed, so a cancel
and a dispatch can never both win:

1. the shipment packs, tells its order (Signal ``shipment_packed``) and waits;
2. the order, if no cancel was accepted by then, marks itself no longer cancellable and
   answers with the Signal ``dispatch``; a cancel accepted first cancels the shipment
   instead (Temporal's child cancellation);
3. a shipment cancelled before it was told to dispatch unpacks and closes CANCELED; once
   told, it dispatches whatever happens (compensation for a dispatch does not exist).

Why a child workflow and not two more activities: the shipment has a life and a history of
its own (``ship-<order id>`` in the Temporal UI), a timeout and retries of its own, and in a
real shop it would run on the warehouse's task queue and workers. Its parent close policy is
REQUEST_CANCEL (see :data:`orderflow.workflows.order.SHIPMENT_CLOSE_POLICY`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from orderflow.activities import ShipmentActivities
    from orderflow.models import (
        DISPATCH_SIGNAL,
        SHIPMENT_PACKED_SIGNAL,
        SHIPMENT_WORKFLOW_TYPE,
        ShipmentInput,
        ShipmentRequest,
        ShipmentResult,
        ShipmentState,
        ShipmentStatus,
    )

T = TypeVar("T")

STEP_TIMEOUT = timedelta(seconds=5)
"""Start-to-close budget of one packing or dispatch attempt, plus any simulated latency."""
HEARTBEAT_TIMEOUT = timedelta(seconds=2)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["OrderCancelled", "ShipmentRefused"],
)
UNDO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
)


@workflow.defn(name=SHIPMENT_WORKFLOW_TYPE)
class ShipmentWorkflow:
    @workflow.init
    def __init__(self, request: ShipmentRequest) -> None:
        self._request = request
        self._dispatch = False
        self._status = ShipmentStatus(
            workflow_id=workflow.info().workflow_id, state=ShipmentState.PACKING
        )

    @workflow.run
    async def run(self, request: ShipmentRequest) -> ShipmentResult:
        order = request.order_id
        work = ShipmentInput(
            order_id=order,
            workflow_id=request.workflow_id,
            key_scope=request.key_scope,
            fault=request.fault,
        )
        try:
            await workflow.execute_activity_method(
                ShipmentActivities.pack, work, retry_policy=RETRY, **self._timeouts()
            )
            self._status.state = ShipmentState.PACKED
            workflow.logger.info("order %s: packed, waiting for the go to dispatch", order)
            await self._tell_order(SHIPMENT_PACKED_SIGNAL)
            # Temporal's cancellation is checked as well as awaited: it can be absorbed by
            # the Signal above when both land in the same activation.
            await workflow.wait_condition(
                lambda: self._dispatch or workflow.cancellation_reason() is not None
            )
            if not self._dispatch:
                raise asyncio.CancelledError("shipment cancelled before dispatch")
        except BaseException as stop:
            if not is_cancelled_exception(stop):
                self._status.state = ShipmentState.FAILED
                raise  # packing failed for good: the order compensates
            workflow.logger.info("order %s: shipment cancelled before dispatch, unpacking", order)
            await _uncancellable(
                workflow.execute_activity_method(
                    ShipmentActivities.unpack,
                    work,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=UNDO_RETRY,
                )
            )
            self._status.state = ShipmentState.CANCELLED
            raise asyncio.CancelledError("shipment cancelled before dispatch") from None
        self._status.state = ShipmentState.DISPATCHING
        result = await _uncancellable(
            workflow.execute_activity_method(
                ShipmentActivities.dispatch, work, retry_policy=UNDO_RETRY, **self._timeouts()
            )
        )
        self._status.state = ShipmentState.DISPATCHED
        self._status.tracking_number = result.tracking_number
        workflow.logger.debug("order %s: dispatched, tracking %s", order, result.tracking_number)
        return result

    @workflow.signal(name=DISPATCH_SIGNAL)
    def dispatch(self) -> None:
        """From the order: it is past the point of no return, hand the parcel over."""
        self._dispatch = True

    @workflow.query(name="status")
    def status(self) -> ShipmentStatus:
        return self._status

    async def _tell_order(self, signal: str) -> None:
        parent = workflow.info().parent
        if parent is None:  # started on its own (a test, an operator): nobody to tell
            self._dispatch = True
            return
        await workflow.get_external_workflow_handle(
            parent.workflow_id, run_id=parent.run_id
        ).signal(signal)

    def _timeouts(self) -> dict[str, Any]:
        latency = self._request.fault.latency if self._request.fault else 0.0
        options: dict[str, Any] = {
            "start_to_close_timeout": STEP_TIMEOUT + timedelta(seconds=latency),
            "cancellation_type": workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        }
        if latency:
            options["heartbeat_timeout"] = HEARTBEAT_TIMEOUT
        return options


async def _uncancellable(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end even if the workflow is cancelled meanwhile."""
    task = asyncio.ensure_future(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
    return task.result()
