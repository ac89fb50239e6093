"""``OrderWorkflow``: reserve -> (review) -> charge -> ship -> notify, as a saga.

The workflow is the order's durable memory. Its code must be deterministic: it never does
I/O itself, reads time only through ``workflow.now()`` and leaves every side effect to an
activity. Temporal replays this code from the event history after a worker crash, so the
order continues exactly where it stopped.

Semantics (see the design):

- Each step is one activity with a RetryPolicy at the call site. Transient failures are
  retried; out of stock and card declined are non-retryable and fail the order.
- An order above the review threshold waits for the ``review`` Update (approve or
  reject) on a durable timer; no decision before the timeout cancels it. Shipping is the
  ``ShipmentWorkflow`` child (pack, then dispatch on the parent's Signal), so a cancel
  before dispatch unpacks the parcel and a cancel after it is refused.
- Cancellation has three doors and one outcome: the Signal ``cancel``, the Update
  ``cancel_order`` and Temporal's own cancellation (``handle.cancel()``, ``temporal workflow
  cancel``, the UI's Request Cancellation) are honoured until the order is final. Each
  interrupts a step delay at once; an activity in flight is cancelled and waited for, so
  compensation always runs after the last attempt has stopped touching the store; the
  order ends CANCELLED. Compensation itself cannot be cancelled.
- How Temporal records the close: after a Signal or Update cancel the run *completes* (its
  result is the CANCELLED order); after Temporal's own cancellation it closes *CANCELED*,
  as the operator asked, with the compensated order kept in its memo (``final_status``) so
  every view reads it without a worker. Terminate and run timeouts run no workflow code:
  the reconciler (:mod:`orderflow.workflows.reconcile`) gives their stock and money back.
- Compensation undoes, in reverse, every step that was attempted: refund, release stock.
  Those activities are idempotent and no-ops when there is nothing to undo.
- Side effects are keyed by the order *execution* (:func:`orderflow.models.key_scope`), so a
  reused order id can never complete on an earlier run's payment.
- A notification that still fails after its retries does not undo a paid order: the order
  is COMPLETED with the ``notify_customer`` step marked failed (documented choice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from orderflow.activities import OrderActivities
    from orderflow.models import (
        ATTEMPT_FAILED_SIGNAL,
        CANCEL_SIGNAL,
        CANCEL_UPDATE,
        FINAL_STATUS_MEMO,
        ORDER_CUSTOMER_KEY,
        ORDER_STATE_KEY,
        ORDER_TOTAL_KEY,
        REVIEW_UPDATE,
        SHIPMENT_PACKED_SIGNAL,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AttemptFailure,
        ChargePaymentInput,
        CompensationInput,
        ErrorType,
        FaultSpec,
        NotifyCustomerInput,
        OrderRequest,
        OrderState,
        OrderStatus,
        PaymentReceipt,
        Reservation,
        ReserveInventoryInput,
        RetrySettings,
        ReviewDecision,
        ReviewRequest,
        ReviewState,
        ShipmentRequest,
        ShipmentResult,
        ShipmentState,
        ShipmentStatus,
        StepName,
        StepState,
        StepStatus,
        key_scope,
        order_id_from_workflow_id,
        shipment_workflow_id,
    )
    from orderflow.workflows.shipment import ShipmentWorkflow

T = TypeVar("T")
A = TypeVar("A")

ORDER_V2_PATCH = "order-v2"
"""Orders started on code with this patch (a) publish their state as search attributes
(``OrderState``, ``OrderCustomerId``, ``OrderTotal``) instead of a memo at the end and (b)
key their side effects by the execution, not the bare workflow id. Asked once, when the run
starts: an order recorded before the patch keeps the old behaviour for its whole life (its
history has no marker there), so its history replays unchanged and its later steps find
the rows its earlier steps wrote."""

STEP_TIMEOUT = timedelta(seconds=5)
"""Start-to-close budget of one attempt (short for the demo), plus any simulated latency."""

HEARTBEAT_TIMEOUT = timedelta(seconds=2)
"""With simulated latency the activity heartbeats; a silent worker is noticed after this."""

LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)
"""Local activities (``local_activities``) retry inside the worker only below this backoff."""

NOTIFY_MAX_ATTEMPTS = 5
"""Email is retried a few times, then the paid order completes without it."""

COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # undoing must eventually succeed: retry without limit
)

BUSINESS_ERRORS = [
    ErrorType.OUT_OF_STOCK.value,
    ErrorType.UNKNOWN_PRODUCT.value,
    ErrorType.CARD_DECLINED.value,
    ErrorType.NOTIFICATION_REJECTED.value,
    ErrorType.ORDER_CANCELLED.value,
]


STEP_FAILURES = (ActivityError, ChildWorkflowError, ApplicationError, TemporalTimeoutError)
"""How a step fails: a remote activity's error arrives wrapped in ``ActivityError``, the
shipment's in ``ChildWorkflowError``, a local activity's (``local_activities``) as the
``ApplicationError`` or timeout itself."""

REVIEW_PATCH = "order-review"
"""Orders at or above the review threshold wait for a person after the reservation. Asked
at the branch point, only for such orders: an order recorded before the patch replays
without the marker and keeps going straight to the charge."""

SHIPMENT_PATCH = "order-shipment"
"""Paid orders ship through the ``ShipmentWorkflow`` child before the customer is told."""

SHIPMENT_CLOSE_POLICY = ParentClosePolicy.REQUEST_CANCEL
"""What happens to the shipment when its order closes without waiting for it (terminated,
timed out): REQUEST_CANCEL lets it clean up as it would for a customer's cancel - unpack if
not yet told to dispatch, finish a dispatch it was told to do - and the reconciler then
settles the order (a dispatched order keeps its payment). TERMINATE would stop it mid-pack
with the parcel on the table; ABANDON would leave it waiting for a go that never comes."""


class _CancelRequested(Exception):
    """Internal: unwinds the steps when a cancel was accepted."""


def retry_policy(
    settings: RetrySettings | None, maximum_attempts: int | None = None
) -> RetryPolicy:
    """The business steps' RetryPolicy: the order's own settings or the demo defaults."""
    settings = settings or RetrySettings()
    return RetryPolicy(
        initial_interval=timedelta(seconds=settings.initial_interval),
        backoff_coefficient=settings.backoff_coefficient,
        maximum_interval=timedelta(seconds=settings.maximum_interval),
        maximum_attempts=(
            settings.maximum_attempts if maximum_attempts is None else maximum_attempts
        ),
        non_retryable_error_types=BUSINESS_ERRORS,
    )


def describe_failure(error: BaseException) -> str:
    """A one-line, human-readable reason from an activity failure chain."""
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    if isinstance(cause, ApplicationError):
        return cause.message
    if isinstance(cause, TemporalTimeoutError):
        return f"timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
    return str(cause) or type(cause).__name__


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflow:
    @workflow.init
    def __init__(self, request: OrderRequest) -> None:
        info = workflow.info()
        now = workflow.now()
        self._request = request
        self._order_id = request.order_id or order_id_from_workflow_id(info.workflow_id)
        self._cancel_requested = False
        self._temporal_cancel_noted = False
        self._review: ReviewRequest | None = None
        self._packed = False
        self._dispatching = False
        self._v2 = False
        self._key_scope: str | None = None
        self._status = OrderStatus(
            order_id=self._order_id,
            workflow_id=info.workflow_id,
            customer_id=request.customer_id,
            customer_name=request.customer_name,
            steps=[StepState(name=step) for step in StepName],
            created_at=now,
            updated_at=now,
        )

    # --- the business story ------------------------------------------------------------

    @workflow.run
    async def run(self, request: OrderRequest) -> OrderStatus:
        return await self._saga()

    async def _steps(self) -> None:
        """The business sequence (the tutorials' workflow variants override only this)."""
        reservation = await self._reserve_inventory()
        await self._review_if_needed(reservation)
        await self._charge_payment(reservation.total)
        await self._ship()
        await self._notify_customer()

    async def _saga(self) -> OrderStatus:
        """Run the steps; on a cancel or a failed step, compensate what was done."""
        workflow.logger.info("order %s: received", self._order_id)
        self._v2 = workflow.patched(ORDER_V2_PATCH)
        if self._v2:
            info = workflow.info()
            self._key_scope = key_scope(info.workflow_id, info.first_execution_run_id)
        self._set_state(OrderState.PROCESSING)
        try:
            await self._steps()
            self._stop_if_cancel_requested()
        except (_CancelRequested, asyncio.CancelledError) as stop:
            if isinstance(stop, asyncio.CancelledError):
                # Temporal's cancel landed on an await outside a step (a variant's timer).
                self._note_temporal_cancel()
            workflow.logger.info(
                "order %s: cancelling (%s)", self._order_id, self._status.cancel_reason
            )
            await self._uncancellable(self._compensate())
            self._finish(OrderState.CANCELLED)
        except STEP_FAILURES as error:
            self._status.error = describe_failure(error)
            workflow.logger.warning("order %s: failed: %s", self._order_id, self._status.error)
            await self._uncancellable(self._compensate())
            self._finish(OrderState.FAILED)
        else:
            self._finish(OrderState.COMPLETED)
        if (
            self._status.state == OrderState.CANCELLED
            and workflow.cancellation_reason() is not None
        ):
            # Temporal asked: close CANCELED, the compensated order kept for every view.
            workflow.upsert_memo({FINAL_STATUS_MEMO: self._status.model_dump(mode="json")})
            raise asyncio.CancelledError(self._status.cancel_reason)
        return self._status

    async def _reserve_inventory(self) -> Reservation:
        fault = self._fault(StepName.RESERVE_INVENTORY)
        reservation: Reservation = await self._run_step(
            StepName.RESERVE_INVENTORY,
            lambda: self._start(
                OrderActivities.reserve_inventory,
                ReserveInventoryInput(
                    order_id=self._order_id,
                    workflow_id=self._status.workflow_id,
                    key_scope=self._key_scope,
                    items=self._request.items,
                    fault=fault,
                ),
                retry_policy=retry_policy(self._request.retry),
                **self._timeouts(fault),
            ),
        )
        self._status.lines = reservation.lines
        self._status.total = reservation.total
        self._publish()
        return reservation

    async def _charge_payment(self, amount: Decimal) -> PaymentReceipt:
        fault = self._fault(StepName.CHARGE_PAYMENT)
        receipt: PaymentReceipt = await self._run_step(
            StepName.CHARGE_PAYMENT,
            lambda: self._start(
                OrderActivities.charge_payment,
                ChargePaymentInput(
                    order_id=self._order_id,
                    workflow_id=self._status.workflow_id,
                    key_scope=self._key_scope,
                    customer_id=self._request.customer_id,
                    amount=amount,
                    fault=fault,
                ),
                retry_policy=retry_policy(self._request.retry),
                **self._timeouts(fault),
            ),
        )
        return receipt

    async def _review_if_needed(self, reservation: Reservation) -> None:
        """Orders at or above the threshold wait for a person's decision: a durable timer
        (``wait_condition`` with a timeout) that survives worker restarts. No decision in
        time cancels the order; a rejection cancels it too."""
        step = self._status.step(StepName.REVIEW)
        if reservation.review is None or not workflow.patched(REVIEW_PATCH):
            step.status = StepStatus.SKIPPED
            return
        timeout = timedelta(
            seconds=self._request.review_timeout or reservation.review.timeout_seconds
        )
        step.status = StepStatus.RUNNING
        step.started_at = workflow.now()
        self._status.current_step = StepName.REVIEW
        self._status.review = ReviewState(deadline=workflow.now() + timeout)
        self._set_state(OrderState.AWAITING_REVIEW)
        workflow.set_current_details(f"awaiting review until {self._status.review.deadline}")
        workflow.logger.info(
            "order %s: %s reaches the review threshold, waiting up to %s for a decision",
            self._order_id, reservation.total, timeout,
        )  # fmt: skip
        try:
            await workflow.wait_condition(
                lambda: self._review is not None or self._cancel_arrived(), timeout=timeout
            )
        except TimeoutError:  # the builtin one: no decision in time
            step.status = StepStatus.FAILED
            step.last_error = f"no decision within {timeout}"
            self._accept_cancel(f"no review decision within {timeout}")
        except asyncio.CancelledError:  # Temporal's own cancellation
            self._note_temporal_cancel()
        self._notice_temporal_cancel()
        step.finished_at = workflow.now()
        if self._cancel_requested:
            if step.status == StepStatus.RUNNING:
                step.status = StepStatus.CANCELLED
            raise _CancelRequested
        assert self._review is not None
        step.status = StepStatus.COMPLETED
        if self._review.decision == ReviewDecision.REJECT:
            note = f": {self._review.note}" if self._review.note else ""
            self._accept_cancel(f"rejected in review by {self._review.reviewer}{note}")
            raise _CancelRequested
        workflow.logger.info("order %s: approved by %s", self._order_id, self._review.reviewer)
        self._set_state(OrderState.PROCESSING)

    async def _ship(self) -> None:
        """The shipment child: pack, then - past the point of no return - dispatch."""
        step = self._status.step(StepName.SHIP)
        if not workflow.patched(SHIPMENT_PATCH):
            step.status = StepStatus.SKIPPED
            return
        await self._step_delay()
        step.status = StepStatus.RUNNING
        step.attempts = 1
        step.started_at = workflow.now()
        self._status.current_step = StepName.SHIP
        shipment_id = shipment_workflow_id(self._order_id)
        self._status.shipment = ShipmentStatus(workflow_id=shipment_id, state=ShipmentState.PACKING)
        self._touch()
        workflow.set_current_details("ship running: packing")
        workflow.logger.debug("order %s: ship started (%s)", self._order_id, shipment_id)
        child = await self._uncancellable(
            workflow.start_child_workflow(
                ShipmentWorkflow.run,
                ShipmentRequest(
                    order_id=self._order_id,
                    workflow_id=self._status.workflow_id,
                    key_scope=self._key_scope,
                    items=self._request.items,
                    fault=self._fault(StepName.SHIP),
                ),
                id=shipment_id,
                parent_close_policy=SHIPMENT_CLOSE_POLICY,
                cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        )
        await self._until_done_or_cancelled(lambda: self._packed or child.done())
        if self._cancel_requested:
            if not child.done():
                child.cancel()  # before dispatch: the shipment unpacks
            finished, _ = await self._until_stopped(child)
            self._status.shipment.state = ShipmentState.CANCELLED
            step.status = StepStatus.COMPLETED if finished else StepStatus.CANCELLED
            step.finished_at = workflow.now()
            raise _CancelRequested
        if not child.done():
            # Packed, no cancel accepted: the point of no return, decided here, at once.
            self._dispatching = True
            self._status.shipment.state = ShipmentState.DISPATCHING
            self._set_state(OrderState.PROCESSING)  # no longer cancellable
            workflow.set_current_details("ship running: dispatching")
            await self._uncancellable(child.signal(ShipmentWorkflow.dispatch))
        finished, result = await self._until_stopped(child)
        step.finished_at = workflow.now()
        if not finished or result is None:
            step.status = StepStatus.FAILED
            self._status.shipment.state = ShipmentState.FAILED
            error = child.exception() if not child.cancelled() else None
            step.last_error = describe_failure(error) if error else "shipment stopped"
            if isinstance(error, STEP_FAILURES):
                raise error
            raise ApplicationError(step.last_error, type="ShipmentFailed")
        shipped: ShipmentResult = result
        self._status.shipment.state = ShipmentState.DISPATCHED
        self._status.shipment.tracking_number = shipped.tracking_number
        step.status = StepStatus.COMPLETED
        self._touch()
        workflow.logger.debug(  # the dispatch activity logged the tracking number
            "order %s: ship completed, tracking %s", self._order_id, shipped.tracking_number
        )

    async def _notify_customer(self) -> None:
        fault = self._fault(StepName.NOTIFY_CUSTOMER)
        try:
            await self._run_step(
                StepName.NOTIFY_CUSTOMER,
                lambda: self._start(
                    OrderActivities.notify_customer,
                    NotifyCustomerInput(
                        order_id=self._order_id,
                        workflow_id=self._status.workflow_id,
                        key_scope=self._key_scope,
                        customer_id=self._request.customer_id,
                        customer_name=self._request.customer_name,
                        total=self._status.total or Decimal("0"),
                        fault=fault,
                    ),
                    retry_policy=retry_policy(self._request.retry, NOTIFY_MAX_ATTEMPTS),
                    **self._timeouts(fault),
                ),
            )
        except STEP_FAILURES as error:
            # Paid and reserved: a lost email must not undo the order. Record and go on.
            workflow.logger.warning(
                "order %s: notification failed, completing anyway: %s",
                self._order_id,
                describe_failure(error),
            )

    async def _compensate(self) -> None:
        """Undo attempted steps in reverse order; skip the ones never started."""
        self._set_state(OrderState.COMPENSATING)
        undo = CompensationInput(
            order_id=self._order_id,
            workflow_id=self._status.workflow_id,
            key_scope=self._key_scope,
        )
        compensations: list[tuple[StepName, Callable[..., Any]]] = [
            (StepName.CHARGE_PAYMENT, OrderActivities.refund_payment),
            (StepName.RESERVE_INVENTORY, OrderActivities.release_inventory),
        ]
        for step_name, compensation in compensations:
            step = self._status.step(step_name)
            if step.status == StepStatus.PENDING:
                continue
            workflow.set_current_details(f"compensating: {compensation.__name__}")
            await workflow.execute_activity_method(
                compensation,
                undo,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            if step.status == StepStatus.COMPLETED:
                step.status = StepStatus.COMPENSATED
            workflow.logger.info("order %s: compensated %s", self._order_id, step_name.value)
        for step in self._status.steps:
            if step.status == StepStatus.PENDING:
                step.status = StepStatus.SKIPPED

    # --- messages ----------------------------------------------------------------------

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderStatus:
        return self._status

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, reason: str) -> None:
        """Fire-and-forget cancel; ignored (and logged) once the order can no longer change."""
        if self._cancel_rejection() is not None:
            workflow.logger.info("order %s: cancel signal ignored", self._order_id)
            return
        self._accept_cancel(reason)

    @workflow.update(name=CANCEL_UPDATE)
    def cancel_order(self, reason: str) -> OrderStatus:
        """Cancel with an answer: the validator rejects it once the order is settled."""
        self._accept_cancel(reason)
        return self._status

    @cancel_order.validator
    def _validate_cancel(self, reason: str) -> None:
        rejection = self._cancel_rejection()
        if rejection is not None:
            raise ValueError(rejection)

    @workflow.update(name=REVIEW_UPDATE)
    def review_order(self, request: ReviewRequest) -> OrderStatus:
        """A person's decision on an order awaiting review (refused unless it awaits one)."""
        self._review = request
        review = self._status.review
        assert review is not None
        review.decision = request.decision
        review.reviewer = request.reviewer
        review.note = request.note
        review.decided_at = workflow.now()
        self._touch()
        workflow.logger.info(
            "order %s: review %s by %s", self._order_id, request.decision.value, request.reviewer
        )
        return self._status

    @review_order.validator
    def _validate_review(self, request: ReviewRequest) -> None:
        state = self._status.state
        if state != OrderState.AWAITING_REVIEW or self._review is not None:
            raise ValueError(f"order {self._order_id} is not awaiting review (it is {state.value})")
        if self._cancel_requested:
            raise ValueError(f"order {self._order_id} is being cancelled")

    @workflow.signal(name=SHIPMENT_PACKED_SIGNAL)
    def shipment_packed(self) -> None:
        """From the shipment child: the parcel is packed and waits for the go."""
        self._packed = True
        if self._status.shipment is not None:
            self._status.shipment.state = ShipmentState.PACKED
        self._touch()

    @workflow.signal(name=ATTEMPT_FAILED_SIGNAL)
    def attempt_failed(self, report: AttemptFailure) -> None:
        """From the attempt-tracking interceptor: show retries in the Query while they run."""
        try:
            step = self._status.step(StepName(report.step))
        except ValueError:
            return  # compensation activities are not steps
        if step.status not in (StepStatus.RUNNING, StepStatus.RETRYING):
            return  # a late report from an attempt that no longer matters
        step.attempts = max(step.attempts, report.attempt)
        step.last_error = f"{report.error_type}: {report.message}"
        if report.will_retry:
            step.status = StepStatus.RETRYING
        self._touch()

    # --- mechanics ---------------------------------------------------------------------

    async def _run_step(self, name: StepName, start: Callable[[], workflow.ActivityHandle[T]]) -> T:
        """Run one step's activity, racing it against a cancel request (any door)."""
        step = self._status.step(name)
        await self._step_delay()
        step.status = StepStatus.RUNNING
        step.attempts = max(step.attempts, 1)
        step.started_at = workflow.now()
        self._status.current_step = name
        self._touch()
        workflow.set_current_details(f"{name.value} running")
        workflow.logger.debug("order %s: %s started", self._order_id, name.value)
        handle = start()
        await self._until_done_or_cancelled(handle.done)
        if self._cancel_requested:
            if not handle.done():
                handle.cancel()
            # WAIT_CANCELLATION_COMPLETED: this returns only once the attempt has stopped.
            finished, _ = await self._until_stopped(handle)
            step.status = StepStatus.COMPLETED if finished else StepStatus.CANCELLED
            step.last_error = None if finished else "cancelled while running"
            step.finished_at = workflow.now()
            raise _CancelRequested
        try:
            result = handle.result()
        except STEP_FAILURES as error:
            step.status = StepStatus.FAILED
            step.last_error = describe_failure(error)
            step.finished_at = workflow.now()
            self._touch()
            raise
        step.status = StepStatus.COMPLETED
        step.attempts = max(step.attempts, getattr(result, "attempt", 1))
        step.finished_at = workflow.now()
        self._touch()
        # The activity logged what it did; a step that needed retries is worth its own line.
        log = workflow.logger.info if step.attempts > 1 else workflow.logger.debug
        log("order %s: %s completed after %d attempts", self._order_id, name.value, step.attempts)
        self._stop_if_cancel_requested()
        return result

    async def _until_done_or_cancelled(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` or a cancel is accepted (through any door). Temporal's
        cancellation arriving when the order can no longer be cancelled (it has been
        dispatched) is noted and does not cut the wait short."""
        while not (done() or self._cancel_requested):
            try:
                await workflow.wait_condition(lambda: done() or self._cancel_arrived())
            except asyncio.CancelledError:  # Temporal's own cancellation
                self._note_temporal_cancel()
            self._notice_temporal_cancel()

    async def _until_stopped(self, handle: asyncio.Task[T]) -> tuple[bool, T | None]:
        """Wait until a cancelled step's attempt has stopped; (finished, result).

        A Temporal cancel arriving meanwhile cannot cut the wait short (it is noted and the
        wait goes on); a local activity waiting out a retry backoff is cancelled with its
        timer and ends with ``asyncio.CancelledError``, which counts as stopped.
        """
        while not handle.done():
            try:
                await asyncio.shield(handle)
            except asyncio.CancelledError:
                if not handle.done():
                    self._note_temporal_cancel()
            except (*STEP_FAILURES, CancelledError):
                pass
        if handle.cancelled() or handle.exception() is not None:
            return False, None
        return True, handle.result()

    async def _uncancellable(self, work: Awaitable[T]) -> T:
        """Run ``work`` (compensation, starting the shipment) to its end: a cancel arriving
        meanwhile is noted, not obeyed. Temporal delivers a workflow's cancellation once."""
        task = asyncio.ensure_future(work)
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    self._note_temporal_cancel()
        return task.result()

    async def _step_delay(self) -> None:
        """The per-order demo delay: a durable timer that a cancel cuts short."""
        self._stop_if_cancel_requested()
        if self._request.step_delay <= 0:
            return
        try:
            with suppress(TimeoutError):  # the builtin (asyncio) one: the delay simply elapsed
                await workflow.wait_condition(
                    self._cancel_arrived,
                    timeout=timedelta(seconds=self._request.step_delay),
                )
        except asyncio.CancelledError:  # Temporal's own cancellation
            self._note_temporal_cancel()
        self._notice_temporal_cancel()
        self._stop_if_cancel_requested()

    def _start(
        self, activity: Callable[[Any, A], Awaitable[T]], arg: A, **options: Any
    ) -> workflow.ActivityHandle[T]:
        """Start a step's activity: a regular one, or a local one if the order asks for it.

        Local activities run inside the workflow task on this worker: no task-queue round
        trip per step (about half the latency, see docs/performance.md), but they do not
        heartbeat and their retries happen on this worker.
        """
        if self._request.local_activities:
            options.pop("heartbeat_timeout", None)
            if self._v2:
                # Backoffs longer than this wait on a durable workflow timer (visible in the
                # history, cancellable) instead of sleeping inside the worker.
                options["local_retry_threshold"] = LOCAL_RETRY_THRESHOLD
            return workflow.start_local_activity_method(activity, arg, **options)
        return workflow.start_activity_method(activity, arg, **options)

    def _timeouts(self, fault: FaultSpec | None) -> dict[str, Any]:
        latency = fault.latency if fault else 0.0
        options: dict[str, Any] = {
            "start_to_close_timeout": STEP_TIMEOUT + timedelta(seconds=latency),
            "cancellation_type": workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        }
        if latency:
            options["heartbeat_timeout"] = HEARTBEAT_TIMEOUT
        return options

    def _fault(self, step: StepName) -> FaultSpec | None:
        return self._request.faults.for_step(step) if self._request.faults else None

    def _cancel_rejection(self) -> str | None:
        state = self._status.state
        if state.is_final:
            return f"order {self._order_id} is already {state.value}"
        if self._cancel_requested:
            return f"order {self._order_id} is already being cancelled"
        if state == OrderState.COMPENSATING:
            return f"order {self._order_id} is failing and being compensated"
        if self._dispatching:
            return f"order {self._order_id} has been dispatched"
        return None

    def _accept_cancel(self, reason: str) -> None:
        self._cancel_requested = True
        self._status.cancel_reason = reason or "cancelled by request"
        self._status.cancellable = False
        self._touch()
        workflow.logger.info("order %s: cancel accepted: %s", self._order_id, reason)

    def _cancel_arrived(self) -> bool:
        """A cancel accepted through a message, or Temporal's cancellation not yet noted.

        Every wait of the order includes this, so Temporal's cancellation is noticed even
        when it did not surface as ``asyncio.CancelledError`` (it can be absorbed by an
        operation that completed in the same activation)."""
        return self._cancel_requested or (
            not self._temporal_cancel_noted and workflow.cancellation_reason() is not None
        )

    def _notice_temporal_cancel(self) -> None:
        if not self._temporal_cancel_noted and workflow.cancellation_reason() is not None:
            self._note_temporal_cancel()

    def _note_temporal_cancel(self) -> None:
        """Temporal's cancellation is one more door to the same cancel (if still possible)."""
        self._temporal_cancel_noted = True
        if self._cancel_rejection() is not None:
            workflow.logger.info(
                "order %s: cancellation through Temporal noted, too late to cancel", self._order_id
            )
            return
        reason = workflow.cancellation_reason() or ""
        self._accept_cancel(reason or "cancelled through Temporal")

    def _stop_if_cancel_requested(self) -> None:
        if self._cancel_requested:
            raise _CancelRequested

    def _set_state(self, state: OrderState) -> None:
        self._status.state = state
        self._status.cancellable = self._cancel_rejection() is None
        self._touch()
        self._publish()

    def _publish(self) -> None:
        """Tell Temporal's visibility the order's state (lists, filters and counts read it)."""
        if not self._v2:
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            ORDER_STATE_KEY.value_set(self._status.state.value),
            ORDER_CUSTOMER_KEY.value_set(self._request.customer_id),
        ]
        if self._status.total is not None:
            updates.append(ORDER_TOTAL_KEY.value_set(float(self._status.total)))
        workflow.upsert_search_attributes(updates)

    def _finish(self, state: OrderState) -> None:
        self._status.current_step = None
        self._set_state(state)
        workflow.set_current_details(state.value)
        if not self._v2:  # orders from before the patch
            workflow.upsert_memo(
                {
                    "state": state.value,
                    "total": str(self._status.total) if self._status.total is not None else None,
                }
            )
        workflow.logger.info("order %s: %s", self._order_id, state.value)

    def _touch(self) -> None:
        self._status.updated_at = workflow.now()
