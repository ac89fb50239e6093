"""``Orders``: the one door to orders. Place, status, wait, cancel, list, count, timeline, ledger.

The HTTP API, the CLI, the notebook env, the widget console, the load generator and the
benchmarks hold an ``Orders`` and call nothing else for orders, so every door applies the
same rules:

- **One state function.** :func:`order_state` decides an order's state from Temporal's
  record: the state the workflow reported (its ``status`` Query, its result, or the
  ``OrderState`` search attribute it upserts at every change) *and* Temporal's own
  execution status. A run that Temporal closed as CANCELED, TERMINATED, TIMED_OUT or
  FAILED is never shown as still PROCESSING, whatever the workflow last said.
- **Visibility for lists and counts.** Lists, filters and counts are visibility queries on
  the search attributes (:func:`state_query`), never a scan that decodes memos.
- **404 unless the order exists**, for every per-order read.
- **Nothing starts on refused input**: the catalog and the fault switch are checked before
  a workflow is started; a reused order id is refused (see :meth:`Orders.place`).

Errors are the :mod:`orderflow.errors` family.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orderflow.config import Settings
from orderflow.connection import live_pollers, missing_order
from orderflow.errors import (
    InvalidOrderError,
    NotAwaitingReviewError,
    NotCancellableError,
    NoWorkerError,
    OrderConflictError,
    OrderError,
    OrderNotFoundError,
)
from orderflow.models import (
    CANCEL_SIGNAL,
    CANCEL_UPDATE,
    FINAL_STATES,
    FINAL_STATUS_MEMO,
    ORDER_CUSTOMER_KEY,
    ORDER_STATE_KEY,
    ORDER_TOTAL_KEY,
    REVIEW_UPDATE,
    STATUS_QUERY,
    TASK_QUEUE,
    WORKFLOW_TYPE,
    AttemptOutcome,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderSummary,
    ParcelStatus,
    PaymentKind,
    PaymentLedger,
    Product,
    ReconcileReport,
    ReconcileRequest,
    Repair,
    ReviewRequest,
    StepStatus,
    Timeline,
    WorkflowDescription,
    key_scope,
    order_id_from_workflow_id,
    order_workflow_id,
    shipment_workflow_id,
)
from orderflow.store import Store

REQUEST_HASH_MEMO = "request_sha256"
STATE_MEMO, TOTAL_MEMO = "state", "total"
"""Memo keys of version-1 orders (before search attributes), still read for old orders."""

UNFINISHED_STEPS = frozenset(
    {StepStatus.PENDING, StepStatus.RUNNING, StepStatus.RETRYING, StepStatus.SKIPPED}
)
FAILED_ATTEMPTS = frozenset({AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT})
RECORD_CLOCK_SKEW = timedelta(minutes=1)
"""Attempt rows are stamped by workers' clocks, the order's creation by Temporal's."""

QUERY_TIMEOUT = timedelta(seconds=10)
"""How long a ``status`` Query may take: after a worker crash it first waits on the dead
worker's sticky queue (5 s) before another worker replays the order."""
UPDATE_TIMEOUT = timedelta(seconds=10)
"""How long a cancel (Update) may wait for a worker to accept it before answering 503."""

ORDERS_QUERY = f"WorkflowType = '{WORKFLOW_TYPE}'"
CLOSED_AS_FAILED = ("Failed", "Terminated", "TimedOut")

Summaries = list[OrderSummary]
Products = list[Product]
Pollers = dict[str, list[str]]
"""List types named once: inside :class:`Orders`, ``list`` is its method."""

_CLOSED_BY_TEMPORAL: dict[WorkflowExecutionStatus, OrderState] = {
    WorkflowExecutionStatus.CANCELED: OrderState.CANCELLED,
    WorkflowExecutionStatus.FAILED: OrderState.FAILED,
    WorkflowExecutionStatus.TERMINATED: OrderState.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: OrderState.FAILED,
}


# --- the one state function -------------------------------------------------------------


def order_state(
    execution: WorkflowExecutionStatus | None, reported: OrderState | None
) -> OrderState:
    """The order's state from Temporal's execution status and what the workflow reported.

    - Running (or unknown): what the workflow reported last, PENDING before it said anything.
    - Completed: the workflow's own final state (COMPLETED, FAILED or CANCELLED).
    - Closed by Temporal: CANCELED is CANCELLED (the workflow compensated first); FAILED,
      TERMINATED and TIMED_OUT are FAILED (no workflow code ran to undo anything; the
      reconciler returns the stock and money).
    """
    if execution in _CLOSED_BY_TEMPORAL:
        return _CLOSED_BY_TEMPORAL[execution]
    if execution == WorkflowExecutionStatus.COMPLETED:
        return reported if reported in FINAL_STATES else OrderState.COMPLETED
    return reported or OrderState.PENDING


def state_query(state: OrderState) -> str:
    """The visibility filter that selects exactly the orders :func:`order_state` puts in
    ``state`` (the inverse of the state function, for lists and counts)."""
    reported = f"{ORDER_STATE_KEY.name} = '{state.value}'"
    if state == OrderState.CANCELLED:
        return f"(({reported} AND ExecutionStatus = 'Completed') OR ExecutionStatus = 'Canceled')"
    if state == OrderState.FAILED:
        failed = ", ".join(f"'{status}'" for status in CLOSED_AS_FAILED)
        return f"(({reported} AND ExecutionStatus = 'Completed') OR ExecutionStatus IN ({failed}))"
    if state == OrderState.COMPLETED:
        return f"{reported} AND ExecutionStatus = 'Completed'"
    return f"{reported} AND ExecutionStatus = 'Running'"


def _reported_state(value: Any) -> OrderState | None:
    try:
        return OrderState(value) if value else None
    except ValueError:
        return None


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedOrder:
    """What :meth:`Orders.place` did: the request (with its id), and whether it started it."""

    request: OrderRequest
    created: bool
    state: OrderState

    @property
    def order_id(self) -> str:
        return str(self.request.order_id)

    @property
    def workflow_id(self) -> str:
        return self.request.workflow_id


def request_hash(request: OrderRequest) -> str:
    canonical = json.dumps(request.fingerprint(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Orders:
    """The door to orders on one Temporal namespace, task queue and store."""

    def __init__(
        self,
        client: Client,
        store: Store,
        *,
        task_queue: str = TASK_QUEUE,
        allow_faults: bool = True,
        update_timeout: timedelta = UPDATE_TIMEOUT,
    ) -> None:
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.allow_faults = allow_faults
        self.update_timeout = update_timeout

    @classmethod
    def from_settings(cls, client: Client, store: Store, settings: Settings) -> Orders:
        return cls(
            client, store, task_queue=settings.task_queue, allow_faults=settings.allow_faults
        )

    def handle(self, order_id: str) -> WorkflowHandle[Any, OrderStatus]:
        return self.client.get_workflow_handle(order_workflow_id(order_id), result_type=OrderStatus)

    # --- placing ---------------------------------------------------------------------

    async def place(self, request: OrderRequest) -> PlacedOrder:
        """Validate against the catalog and start the order workflow, idempotently.

        The same body with the same id again returns the existing order (``created`` is
        False); the same id with a different body raises :class:`OrderConflictError`, and
        so does an id whose earlier order Temporal no longer knows (its retention ended or
        its server was reset) but whose charges and reservations the store still holds: a
        repeated request must not charge the customer a second time. Nothing is started
        when the request is refused.
        """
        request = request.with_order_id()
        if request.faults is not None and not self.allow_faults:
            raise InvalidOrderError(
                "fault plans are disabled on this server (ORDERFLOW_ALLOW_FAULTS)"
            )
        unknown, recorded = await self.store.admission(
            [item.sku for item in request.items], request.workflow_id
        )
        if unknown:
            raise InvalidOrderError(f"unknown product(s): {', '.join(sorted(unknown))}")
        digest = request_hash(request)
        if recorded:
            return await self._existing(request, digest, forgotten_is_conflict=True)
        try:
            await self.client.start_workflow(
                WORKFLOW_TYPE,
                request,
                id=request.workflow_id,
                task_queue=self.task_queue,
                memo={REQUEST_HASH_MEMO: digest},
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(ORDER_STATE_KEY, OrderState.PENDING.value),
                        SearchAttributePair(ORDER_CUSTOMER_KEY, request.customer_id),
                    ]
                ),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                request_eager_start=True,
                static_summary=f"order {request.order_id} for {request.customer_id}",
            )
        except WorkflowAlreadyStartedError:
            return await self._existing(request, digest, forgotten_is_conflict=False)
        return PlacedOrder(request, created=True, state=OrderState.PENDING)

    async def _existing(
        self, request: OrderRequest, digest: str, *, forgotten_is_conflict: bool
    ) -> PlacedOrder:
        handle = self.client.get_workflow_handle(request.workflow_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or not forgotten_is_conflict:
                raise
            raise OrderConflictError(
                f"order id {request.order_id!r} was used by an earlier order whose payments "
                "and reservations are still on record; use a new order id"
            ) from None
        if await description.memo_value(REQUEST_HASH_MEMO, default=None) != digest:
            raise OrderConflictError(
                f"order {request.order_id!r} already exists with a different request"
            )
        state = order_state(description.status, self._reported(description))
        return PlacedOrder(request, created=False, state=state)

    # --- reading one order -----------------------------------------------------------

    async def status(self, order_id: str) -> OrderStatus:
        """The order now, with its state from :func:`order_state`.

        Running: the ``status`` Query, plus the live retry state of its current step from
        Temporal (the pending activity's attempt, last failure and next retry). Completed:
        the workflow's result (no worker needed). Closed by Temporal: the last status the
        workflow left, with the state and reason Temporal's close gives.
        """
        handle = self.handle(order_id)
        with missing_order(order_id):
            description = await handle.describe()
            execution = description.status
            if execution == WorkflowExecutionStatus.COMPLETED:
                status: OrderStatus = await handle.result(follow_runs=False)
            elif execution == WorkflowExecutionStatus.RUNNING:
                status = _with_live_retries(await self._query(handle, description), description)
            else:
                status = await self._last_status(handle, description)
        return await self._with_recorded_attempts(await self._settled(handle, status, description))

    async def _query(
        self, handle: WorkflowHandle[Any, OrderStatus], description: WorkflowExecutionDescription
    ) -> OrderStatus:
        try:
            status: OrderStatus = await handle.query(
                STATUS_QUERY, result_type=OrderStatus, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as error:
            if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            state = order_state(description.status, self._reported(description))
            raise NoWorkerError(
                f"no worker answered for order {order_id_from_workflow_id(handle.id)} "
                f"(Temporal lists it as {state.value}); is a worker running on task queue "
                f"{description.task_queue!r}?"
            ) from error
        return status

    async def _last_status(
        self, handle: WorkflowHandle[Any, OrderStatus], description: WorkflowExecutionDescription
    ) -> OrderStatus:
        """A run Temporal closed without a result: its memo, a replaying Query, or visibility."""
        memo_status = await description.memo_value(FINAL_STATUS_MEMO, default=None)
        if memo_status is not None:
            return OrderStatus.model_validate(memo_status)
        try:
            return await self._query(handle, description)
        except (NoWorkerError, RPCError):
            return await self._skeleton(description)

    async def _skeleton(self, description: WorkflowExecutionDescription) -> OrderStatus:
        """What visibility alone says of an order (no worker could replay it)."""
        attributes = description.typed_search_attributes
        workflow_id = description.id
        return OrderStatus(
            order_id=order_id_from_workflow_id(workflow_id),
            workflow_id=workflow_id,
            customer_id=attributes.get(ORDER_CUSTOMER_KEY) or "",
            state=self._reported(description) or OrderState.PENDING,
            steps=[],
            total=await self._total(description),
            created_at=description.start_time,
            updated_at=description.close_time or description.start_time,
        )

    async def _settled(
        self,
        handle: WorkflowHandle[Any, OrderStatus],
        status: OrderStatus,
        description: WorkflowExecutionDescription,
    ) -> OrderStatus:
        """Apply the state function; a run Temporal closed also says why it closed."""
        state = order_state(description.status, status.state)
        if description.status in (None, WorkflowExecutionStatus.RUNNING):
            return status if state == status.state else status.model_copy(update={"state": state})
        update: dict[str, Any] = {"state": state, "cancellable": False, "current_step": None}
        if description.status in _CLOSED_BY_TEMPORAL and not status.error:
            update["error"] = await _close_reason(handle, description.status)
            repairs = [
                r for r in await self.store.repairs_of(handle.id) if r.run_id == description.run_id
            ]
            if repairs:
                update["error"] += "; " + _repaired(repairs[0])
        if state == OrderState.CANCELLED and not status.cancel_reason:
            update["cancel_reason"] = "cancelled through Temporal"
        return status.model_copy(update=update)

    async def _aftermath(self, workflow_id: str, description: WorkflowExecutionDescription) -> str:
        """What happened to the stock and money of a run Temporal closed mid-way."""
        repairs = [
            r for r in await self.store.repairs_of(workflow_id) if r.run_id == description.run_id
        ]
        if repairs:
            return "; " + _repaired(repairs[0])
        first_run = description.raw_description.workflow_execution_info.first_run_id
        keys = await self.store.execution_keys(
            workflow_id,
            order_id_from_workflow_id(workflow_id),
            key_scope(workflow_id, first_run or description.run_id),
            description.start_time,
        )
        if keys is not None and await self.store.parcel(keys) == ParcelStatus.DISPATCHED:
            return "; the parcel had been dispatched, so the payment stands"
        return ""

    async def wait(self, order_id: str, timeout: float | None = None) -> OrderStatus:
        """Wait until Temporal has closed the order's run; return its final status."""
        handle = self.handle(order_id)
        with missing_order(order_id):
            try:
                final: OrderStatus = await asyncio.wait_for(
                    handle.result(follow_runs=False), timeout
                )
            except WorkflowFailureError:  # closed by Temporal (cancelled, terminated, ...)
                return await self.status(order_id)
        return await self._with_recorded_attempts(
            final.model_copy(
                update={"state": order_state(WorkflowExecutionStatus.COMPLETED, final.state)}
            )
        )

    async def _with_recorded_attempts(self, status: OrderStatus) -> OrderStatus:
        """Finished steps: how many attempts they took and, for one that completed after
        retries, its last error, from the attempt tracker's records. Temporal tells the
        workflow only how an activity finally ended (and the live retry state of a running
        step comes from Temporal itself, see :func:`_with_live_retries`)."""
        finished = [step for step in status.steps if step.status not in UNFINISHED_STEPS]
        if not finished:
            return status
        since = status.created_at - RECORD_CLOCK_SKEW
        records = [
            record
            for record in await self.store.attempts(status.workflow_id)
            if record.started_at >= since  # not an earlier order's, under a reused id
        ]
        for step in finished:
            mine = [record for record in records if record.step == step.name.value]
            if not mine:
                continue
            step.attempts = max(step.attempts, max(record.attempt for record in mine))
            failures = [record for record in mine if record.outcome in FAILED_ATTEMPTS]
            if step.last_error is None and step.status == StepStatus.COMPLETED and failures:
                last = failures[-1]
                step.last_error = f"{last.error_type}: {last.error_message}"
        return status

    async def exists(self, order_id: str) -> bool:
        try:
            await self.handle(order_id).describe()
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return False
            raise
        return True

    async def require(self, order_id: str) -> None:
        """Raise :class:`OrderNotFoundError` unless Temporal knows the order."""
        if not await self.exists(order_id):
            raise OrderNotFoundError(order_id)

    # --- changing one order ----------------------------------------------------------

    async def cancel(self, order_id: str, reason: str = "", *, signal: bool = False) -> OrderStatus:
        """Cancel through the ``cancel_order`` Update (refused with a reason once the order
        is settled), or fire-and-forget through the ``cancel`` Signal (ignored when too
        late). Returns the status the Update answered, or the status after the Signal."""
        reason = reason or "cancelled by request"
        handle = self.handle(order_id)
        async with self._order_update(
            order_id,
            refused=NotCancellableError,
            worker_did="accepted the cancel",
            closed=lambda state: f"order {order_id} is already {state}",
        ):
            if signal:
                await handle.signal(CANCEL_SIGNAL, reason)
                return await self.status(order_id)
            status: OrderStatus = await handle.execute_update(
                CANCEL_UPDATE, reason, result_type=OrderStatus, rpc_timeout=self.update_timeout
            )
            return status

    async def review(self, order_id: str, decision: ReviewRequest) -> OrderStatus:
        """A person's decision on an order awaiting review (the ``review_order`` Update):
        refused (:class:`NotAwaitingReviewError`) unless the order awaits one."""
        async with self._order_update(
            order_id,
            refused=NotAwaitingReviewError,
            worker_did="took the review",
            closed=lambda state: f"order {order_id} is not awaiting review (it is {state})",
        ):
            status: OrderStatus = await self.handle(order_id).execute_update(
                REVIEW_UPDATE, decision, result_type=OrderStatus, rpc_timeout=self.update_timeout
            )
            return status

    @asynccontextmanager
    async def _order_update(
        self,
        order_id: str,
        *,
        refused: type[OrderError],
        worker_did: str,
        closed: Callable[[str], str],
    ) -> AsyncIterator[None]:
        """Temporal's answers to a message for one order, as the door's errors: the
        validator's refusal and a closed run become ``refused``, no worker in time becomes
        :class:`NoWorkerError`, an unknown order :class:`OrderNotFoundError`."""
        try:
            yield
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise refused(message) from error
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:
            raise NoWorkerError(
                f"no worker {worker_did} of order {order_id} within "
                f"{self.update_timeout.total_seconds():g} s; is a worker running?"
            ) from error
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            # Either no such order, or its run has closed: tell the two apart.
            current = await self.status(order_id)  # raises OrderNotFoundError if unknown
            raise refused(closed(current.state.value)) from error

    # --- many orders -----------------------------------------------------------------

    async def list(
        self,
        limit: int = 50,
        *,
        state: OrderState | None = None,
        customer_id: str | None = None,
    ) -> Summaries:
        """Recent orders, newest first, from Temporal visibility (optionally filtered)."""
        query = ORDERS_QUERY
        if state is not None:
            query += f" AND {state_query(state)}"
        if customer_id is not None:
            query += f" AND {ORDER_CUSTOMER_KEY.name} = '{_quoted(customer_id)}'"
        return [
            await self._summary(execution)
            async for execution in self.client.list_workflows(query, limit=limit)
        ]

    async def _summary(self, execution: WorkflowExecution) -> OrderSummary:
        return OrderSummary(
            order_id=order_id_from_workflow_id(execution.id),
            workflow_id=execution.id,
            state=order_state(execution.status, await self._reported_any(execution)),
            customer_id=execution.typed_search_attributes.get(ORDER_CUSTOMER_KEY),
            total=await self._total(execution),
            created_at=execution.start_time,
            closed_at=execution.close_time,
        )

    async def count_by_state(self) -> dict[OrderState, int]:
        """How many orders are in each state (visibility counts, one query per state)."""
        counts = await asyncio.gather(
            *(
                self.client.count_workflows(f"{ORDERS_QUERY} AND {state_query(state)}")
                for state in OrderState
            )
        )
        return {state: count.count for state, count in zip(OrderState, counts, strict=True)}

    # --- the store's side of an order ------------------------------------------------

    async def timeline(self, order_id: str) -> Timeline:
        """Every recorded activity attempt of the order (404 unless it exists)."""
        workflow_id = order_workflow_id(order_id)
        attempts = [
            *await self.store.attempts(workflow_id),
            *await self.store.attempts(shipment_workflow_id(order_id)),
        ]
        if not attempts:
            await self.require(order_id)
        attempts.sort(key=lambda attempt: attempt.started_at)
        return Timeline(order_id=order_id, workflow_id=workflow_id, attempts=attempts)

    async def ledger(self, order_id: str) -> PaymentLedger:
        """The order's charges and refunds (404 unless it exists)."""
        workflow_id = order_workflow_id(order_id)
        entries = await self.store.payment_ledger(workflow_id)
        if not entries:
            await self.require(order_id)
        net = sum(
            (e.amount if e.kind == PaymentKind.CHARGE else -e.amount for e in entries),
            Decimal("0"),
        )
        return PaymentLedger(
            order_id=order_id, workflow_id=workflow_id, entries=entries, net_charged=net
        )

    async def catalog(self) -> Products:
        """The products with their current stock (prices come from here, never a client)."""
        return await self.store.list_products()

    async def describe_workflow(self, workflow_id: str) -> WorkflowDescription:
        """Temporal's own view of any execution (the original system's status route)."""
        with missing_order(order_id_from_workflow_id(workflow_id)):
            description = await self.client.get_workflow_handle(workflow_id).describe()
        return WorkflowDescription(
            workflow_id=description.id,
            run_id=description.run_id,
            workflow_type=description.workflow_type,
            status=description.status.name if description.status else "UNKNOWN",
            task_queue=description.task_queue,
            start_time=description.start_time,
            close_time=description.close_time,
            history_length=description.history_length,
        )

    async def reconcile(self, lookback_seconds: float | None = None) -> ReconcileReport:
        """Run the reconciler once on this door's task queue and wait for its report.

        Its Temporal Schedule runs it every minute anyway (``orderflow.schedules``); this
        is ``orderflow reconcile``, for an operator who does not want to wait."""
        from orderflow.workflows.reconcile import RECONCILE_WORKFLOW  # workflow module: lazy

        request = ReconcileRequest(task_queue=self.task_queue)
        if lookback_seconds is not None:
            request.lookback_seconds = lookback_seconds
        report: ReconcileReport = await self.client.execute_workflow(
            RECONCILE_WORKFLOW,
            request,
            id=f"orderflow-reconcile-now-{uuid.uuid4().hex[:12]}",
            task_queue=self.task_queue,
            result_type=ReconcileReport,
            execution_timeout=timedelta(minutes=10),
        )
        return report

    async def pollers(self) -> Pollers:
        """Identities of the workers polling this door's task queue, per task type."""
        return await live_pollers(self.client, self.task_queue)

    # --- visibility fields -----------------------------------------------------------

    @staticmethod
    def _reported(execution: WorkflowExecution) -> OrderState | None:
        return _reported_state(execution.typed_search_attributes.get(ORDER_STATE_KEY))

    async def _reported_any(self, execution: WorkflowExecution) -> OrderState | None:
        """The search attribute, or the memo a version-1 order left when it finished."""
        reported = self._reported(execution)
        if reported is None:
            reported = _reported_state(await execution.memo_value(STATE_MEMO, default=None))
        return reported

    @staticmethod
    async def _total(execution: WorkflowExecution) -> Decimal | None:
        total = execution.typed_search_attributes.get(ORDER_TOTAL_KEY)
        if total is None:
            total = await execution.memo_value(TOTAL_MEMO, default=None)
        return _money(total)


def _with_live_retries(
    status: OrderStatus, description: WorkflowExecutionDescription
) -> OrderStatus:
    """Fold Temporal's pending-activity record into the running step: attempt number, last
    failure, and whether it is waiting to retry. The workflow itself hears of an activity
    only when it finally ends; the server knows every attempt as it happens."""
    steps = {step.name.value: step for step in status.steps}
    for pending in description.raw_description.pending_activities:
        step = steps.get(pending.activity_type.name)
        if step is None or step.status not in (StepStatus.RUNNING, StepStatus.RETRYING):
            continue
        step.attempts = max(step.attempts, pending.attempt)
        if pending.HasField("last_failure") and pending.last_failure.message:
            failure = pending.last_failure
            kind = failure.application_failure_info.type or "Failure"
            step.last_error = f"{kind}: {failure.message}"
        waiting = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        if pending.attempt > 1 and waiting:
            step.status = StepStatus.RETRYING
            if pending.HasField("next_attempt_schedule_time"):
                step.next_attempt_at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
        elif pending.attempt > 1:
            step.status = StepStatus.RUNNING
            step.next_attempt_at = None
    return status


async def _close_reason(
    handle: WorkflowHandle[Any, OrderStatus], execution: WorkflowExecutionStatus | None
) -> str:
    """Why Temporal closed the run, from its close event (terminate reason, timeout, ...)."""
    if execution == WorkflowExecutionStatus.CANCELED:
        return "cancelled through Temporal"
    if execution == WorkflowExecutionStatus.TIMED_OUT:
        return "the order's run timed out in Temporal"
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason = event.workflow_execution_terminated_event_attributes.reason
            return f"terminated in Temporal ({reason or 'no reason given'})"
        if event.HasField("workflow_execution_failed_event_attributes"):
            message = event.workflow_execution_failed_event_attributes.failure.message
            return f"the order's workflow failed: {message[:200]}"
    return "closed by Temporal"


def _repaired(repair: Repair) -> str:
    """What the reconciler gave back, in words."""
    given = []
    if repair.released:
        given.append("released the stock")
    if repair.refunded:
        given.append(f"refunded {repair.refunded}")
    return "the reconciler " + (" and ".join(given) or "found nothing to give back")


def _quoted(value: str) -> str:
    """A value for a visibility query literal (ids are validated; this only guards quotes)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
