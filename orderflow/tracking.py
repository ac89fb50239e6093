"""Attempt tracking: an activity interceptor that records every attempt in the store.

Temporal keeps only the last failure of a retried activity in the history; for teaching
(and for post-mortems) we want every attempt: when it started and ended, how it ended,
with which error, on which worker. The interceptor wraps every activity, so activities
stay free of bookkeeping.

Cost on the hot path: one row per attempt, written when the attempt ends through a group
commit: attempts that end while a write is in progress share the next transaction (one
``INSERT`` of many rows), so under load tracking costs a fraction of a transaction per
attempt instead of two (an insert at start and an update at the end, measured in
``bench/levers.py``). An attempt still running after :data:`RUNNING_ROW_AFTER` gets its
``running`` row written then and updated at the end, so a row left ``running`` still means
the worker died during a long attempt (a worker dying within that first moment leaves no
row; Temporal's own history still shows the attempt's timeout and retry).

Tracking never holds an activity's result back for long: an attempt waits at most
:data:`RECORD_WAIT` for its row to commit, then returns and the write finishes in the
background. Under write contention the row lands a little later; the business result (a
committed charge, a non-retryable decline) never turns into a timeout and a retry.

Every failed attempt is logged here as one line (what failed, what the retry policy does
next); :mod:`orderflow.logs` drops the SDK's traceback when the failure was expected.

Live retry status (``retrying``, attempt N, last error) does not come from here: the
``Orders`` door reads it from Temporal's own record of the pending activity.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from orderflow.logs import attempt_failed_line
from orderflow.models import (
    AttemptOutcome,
    AttemptRecord,
    ErrorType,
    order_id_from_workflow_id,
)
from orderflow.store import Store, utcnow

logger = logging.getLogger(__name__)

RUNNING_ROW_AFTER = 0.5
"""Seconds after which a still-running attempt gets its ``running`` row (crash evidence)."""

RECORD_WAIT = 0.25
"""Longest an attempt waits for its row before returning its result anyway."""


class GroupCommit:
    """Write finished attempts in shared transactions: whoever arrives while a write is in
    flight joins the next one. Callers await their own row's commit, so an attempt is in
    the store by the time its activity returns (the order's timeline is never behind)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, record: AttemptRecord) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.store.record_attempts([record for record, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


class AttemptTrackingInterceptor(Interceptor):
    """Register with ``Worker(interceptors=[...])``; records into ``store``."""

    def __init__(self, store: Store, worker_identity: str) -> None:
        self.store = store
        self.worker_identity = worker_identity
        self.commits = GroupCommit(store)
        self._background: set[asyncio.Task[None]] = set()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AttemptRecorder(next, self)


class _RunningRow:
    """The ``running`` row of one attempt, written only if the attempt lasts long enough.

    A timer, not a sleeping task: most attempts end well before :data:`RUNNING_ROW_AFTER`,
    and cancelling a timer handle costs far less than creating and cancelling a task."""

    def __init__(self, store: Store, record: AttemptRecord) -> None:
        self.store = store
        self.record = record
        self.task: asyncio.Task[int] | None = None
        self._timer = asyncio.get_running_loop().call_later(RUNNING_ROW_AFTER, self._write)

    def _write(self) -> None:
        self.task = asyncio.create_task(self.store.start_attempt(self.record))

    def cancel_if_waiting(self) -> bool:
        """Drop the row if it was not started yet; False once it is (being) written."""
        if self.task is not None:
            return False
        self._timer.cancel()
        return True


class _AttemptRecorder(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: AttemptTrackingInterceptor) -> None:
        super().__init__(next)
        self.root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        record = AttemptRecord(
            workflow_id=info.workflow_id or "",
            order_id=order_id_from_workflow_id(info.workflow_id or ""),
            step=info.activity_type,
            attempt=info.attempt,
            started_at=utcnow(),
            outcome=AttemptOutcome.RUNNING,
            worker=self.root.worker_identity,
        )
        running_row = _RunningRow(self.root.store, record)
        try:
            result = await self.next.execute_activity(input)
        except asyncio.CancelledError:
            activity.logger.info(
                "order %s: %s attempt %d cancelled", record.order_id, record.step, record.attempt
            )
            await self._finish(
                running_row, record, AttemptOutcome.CANCELLED, "Cancelled", "activity cancelled"
            )
            raise
        except BaseException as error:
            activity.logger.warning(
                attempt_failed_line(
                    record.order_id, record.step, record.attempt, error, info.retry_policy
                )
            )
            error_type = _error_type(error)
            outcome = (
                AttemptOutcome.TIMED_OUT
                if error_type == ErrorType.SIMULATED_TIMEOUT.value
                else AttemptOutcome.FAILED
            )
            await self._finish(running_row, record, outcome, error_type, _message(error))
            raise
        await self._finish(running_row, record, AttemptOutcome.COMPLETED)
        return result

    async def _finish(
        self,
        running_row: _RunningRow,
        record: AttemptRecord,
        outcome: AttemptOutcome,
        error_type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Record the attempt's end; wait for it at most :data:`RECORD_WAIT`."""
        write = asyncio.ensure_future(
            self._record(running_row, record, outcome, error_type, message)
        )
        self.root._background.add(write)
        write.add_done_callback(self.root._background.discard)
        # ``asyncio.wait`` leaves the write running on timeout (no shield, no extra task).
        await asyncio.wait((write,), timeout=RECORD_WAIT)

    async def _record(
        self,
        running_row: _RunningRow,
        record: AttemptRecord,
        outcome: AttemptOutcome,
        error_type: str | None,
        message: str | None,
    ) -> None:
        try:
            if running_row.cancel_if_waiting():  # a short attempt: one row, group-committed
                await self.root.commits.write(
                    record.model_copy(
                        update={
                            "finished_at": utcnow(),
                            "outcome": outcome,
                            "error_type": error_type,
                            "error_message": message,
                        }
                    )
                )
                return
            assert running_row.task is not None
            attempt_id = await asyncio.shield(running_row.task)
            await self.root.store.finish_attempt(
                attempt_id, outcome=outcome, error_type=error_type, error_message=message
            )
        except Exception:
            # Tracking is telemetry: never fail the business activity because of it.
            logger.exception("could not record activity attempt")


def _error_type(error: BaseException) -> str:
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    return type(error).__name__


def _message(error: BaseException) -> str:
    # str(ApplicationError) prefixes the type; we store the type in its own column.
    return error.message if isinstance(error, ApplicationError) else str(error)
