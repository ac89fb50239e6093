"""Attempt tracking: an activity interceptor that records every attempt in the store.

Temporal keeps only the last failure of a retried activity in the history; for teaching
(and for post-mortems) we want every attempt: when it started and ended, how it ended,
with which error, on which worker. The interceptor wraps every activity, so activities
stay free of bookkeeping.

Cost on the hot path: the "running" row is inserted concurrently with the activity body
(not before it), and the outcome is written with one UPDATE when the attempt ends. A row
left ``running`` means the worker died during that attempt.

On a failed attempt of a business step it also signals the workflow, so the ``status``
Query shows ``retrying`` with the attempt count and last error while retries are still
going on (the workflow itself only hears about an activity when it finally ends).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from orderflow.models import (
    ATTEMPT_FAILED_SIGNAL,
    AttemptFailure,
    AttemptRecord,
    ErrorType,
    StepName,
    order_id_from_workflow_id,
)
from orderflow.store import Store, utcnow

logger = logging.getLogger(__name__)

OUTCOME_RUNNING = "running"
OUTCOME_COMPLETED = "completed"
OUTCOME_FAILED = "failed"
OUTCOME_TIMED_OUT = "timed_out"
OUTCOME_CANCELLED = "cancelled"

_BUSINESS_STEPS = frozenset(step.value for step in StepName)


class AttemptTrackingInterceptor(Interceptor):
    """Register with ``Worker(interceptors=[...])``; needs the store and, for live retry
    status, the client to signal the workflow."""

    def __init__(self, store: Store, client: Client | None, worker_identity: str) -> None:
        self.store = store
        self.client = client
        self.worker_identity = worker_identity

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AttemptRecorder(next, self)


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
            outcome=OUTCOME_RUNNING,
            worker=self.root.worker_identity,
        )
        started = asyncio.create_task(self.root.store.start_attempt(record))
        try:
            result = await self.next.execute_activity(input)
        except asyncio.CancelledError:
            await self._finish(started, OUTCOME_CANCELLED, "Cancelled", "activity cancelled")
            raise
        except BaseException as error:
            error_type = _error_type(error)
            outcome = (
                OUTCOME_TIMED_OUT
                if error_type == ErrorType.SIMULATED_TIMEOUT.value
                else OUTCOME_FAILED
            )
            await self._finish(started, outcome, error_type, _message(error))
            await self._report_failure(info, error, error_type)
            raise
        await self._finish(started, OUTCOME_COMPLETED)
        return result

    async def _finish(
        self,
        started: asyncio.Task[int],
        outcome: str,
        error_type: str | None = None,
        message: str | None = None,
    ) -> None:
        try:
            attempt_id = await asyncio.shield(started)
            await self.root.store.finish_attempt(
                attempt_id, outcome=outcome, error_type=error_type, error_message=message
            )
        except Exception:
            # Tracking is telemetry: never fail the business activity because of it.
            logger.exception("could not record activity attempt")

    async def _report_failure(
        self, info: activity.Info, error: BaseException, error_type: str
    ) -> None:
        if self.root.client is None or info.activity_type not in _BUSINESS_STEPS:
            return
        report = AttemptFailure(
            step=info.activity_type,
            attempt=info.attempt,
            error_type=error_type,
            message=_message(error)[:300],
            will_retry=_will_retry(info, error, error_type),
        )
        try:
            handle = self.root.client.get_workflow_handle(info.workflow_id or "")
            await handle.signal(ATTEMPT_FAILED_SIGNAL, report)
        except Exception as signal_error:  # the workflow may have moved on or closed
            logger.debug("attempt report not delivered: %s", signal_error)


def _error_type(error: BaseException) -> str:
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    return type(error).__name__


def _message(error: BaseException) -> str:
    # str(ApplicationError) prefixes the type; we store the type in its own column.
    return error.message if isinstance(error, ApplicationError) else str(error)


def _will_retry(info: activity.Info, error: BaseException, error_type: str) -> bool:
    if isinstance(error, ApplicationError) and error.non_retryable:
        return False
    policy = info.retry_policy
    if policy is None:
        return True
    if error_type in (policy.non_retryable_error_types or ()):
        return False
    return policy.maximum_attempts == 0 or info.attempt < policy.maximum_attempts
