"""The review gate of tutorial 08's exercise: wait for a person's decision, but not forever.

The order's own review (``OrderWorkflow._review_if_needed``) is a ``workflow.wait_condition``
with a timeout, in the middle of a saga. The exercise isolates that wait in a workflow of
the learner's own, ``ReviewGate`` (``notebooks/ex08_review_wait.py``): the ``review``
Update records a decision, and ``run`` - the part the learner writes - waits until there
is one, or until ``request.timeout`` has passed, and says which.

This module holds what that workflow and its check share: the input (:class:`GateRequest`),
the three answers (:data:`APPROVED`, :data:`REJECTED`, :data:`NO_DECISION`) and
:func:`run_gate`, which runs one gate on the check's worker, plays the reviewer (or
stays silent), and reports what Temporal recorded: the result or the failure, and the
timers in the history. It judges nothing; ``orderflow.lab.exercises.check_review_wait``
does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from orderflow.models import ReviewRequest
from orderflow.teaching import history

GATE_UPDATE = "review"
"""The gate's Update (the order's is ``review_order``; same input, :class:`ReviewRequest`)."""

APPROVED = "approved"
REJECTED = "rejected"
NO_DECISION = "no decision"
"""What a gate returns: the decision, or that none came before the timeout."""

POLL_EVERY = 0.05
UPDATE_TIMEOUT = timedelta(seconds=10)
FIRST_TASK_TIMEOUT = 30.0
"""Seconds a gate's first workflow task may take (a busy machine, a worker starting up);
the gate's own ``limit`` counts from when it is waiting."""


class GateRequest(BaseModel):
    """The gate's input: whose review it is and how long to wait for it."""

    order_id: str
    timeout_seconds: float = Field(gt=0, le=3600)

    @property
    def timeout(self) -> timedelta:
        """How long to wait for a decision (``wait_condition`` takes a timedelta or seconds)."""
        return timedelta(seconds=self.timeout_seconds)


@dataclass
class GateRun:
    """What happened to one gate, as the check saw it and as Temporal recorded it."""

    scenario: str
    timeout_seconds: float
    decision: ReviewRequest | None
    result: Any = None
    failure: str | None = None
    """The workflow failed: the failure's type and message (e.g. an uncaught TimeoutError)."""
    stuck: str | None = None
    """A workflow task failed (the code raised, or the sandbox refused a call)."""
    overran: bool = False
    """Still running when the check stopped waiting (it was terminated)."""
    update_error: str | None = None
    timers: list[float] = field(default_factory=list)
    """Durations (seconds) of the timers the gate started, in order."""
    fired: int = 0
    cancelled: int = 0

    @property
    def completed(self) -> bool:
        return self.failure is None and self.stuck is None and not self.overran


async def run_gate(
    client: Client,
    workflow_class: type,
    *,
    task_queue: str,
    workflow_id: str,
    scenario: str,
    timeout_seconds: float,
    decision: ReviewRequest | None,
    limit: float,
) -> GateRun:
    """Start a gate, let it begin waiting, send ``decision`` (if any), wait up to ``limit``
    seconds (from then) for it to close, and read its history. A gate still running then is
    terminated."""
    run = GateRun(scenario, timeout_seconds, decision)
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        workflow_class.run,  # type: ignore[attr-defined]
        GateRequest(order_id=workflow_id, timeout_seconds=timeout_seconds),
        id=workflow_id,
        task_queue=task_queue,
    )
    run.stuck = await _first_task(client, workflow_id, time.monotonic() + FIRST_TASK_TIMEOUT)
    deadline = time.monotonic() + limit
    if run.stuck is None and decision is not None:
        run.update_error = await _review(handle, decision)
    if run.stuck is None:
        await _outcome(client, handle, run, deadline)
    if run.stuck is not None or run.overran:
        await _terminate(handle)
    _read_timers(await history.fetch(client, workflow_id), run)
    return run


async def _first_task(client: Client, workflow_id: str, deadline: float) -> str | None:
    """Wait until the gate's first workflow task is done (it is waiting by then), or failed."""
    while True:
        recorded = await history.fetch(client, workflow_id)
        for event in recorded.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                return task_failure(event)
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                return None
        if time.monotonic() > deadline:
            return "its first workflow task never completed"
        await asyncio.sleep(POLL_EVERY)


async def _review(handle: WorkflowHandle[Any, Any], decision: ReviewRequest) -> str | None:
    """Play the reviewer; a refused or unanswered Update is reported, not raised."""
    try:
        await handle.execute_update(GATE_UPDATE, decision, rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        return cause.message if isinstance(cause, ApplicationError) else str(cause)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return f"no answer within {UPDATE_TIMEOUT.total_seconds():g} s"
    except RPCError as error:
        return error.message
    return None


async def _outcome(
    client: Client, handle: WorkflowHandle[Any, Any], run: GateRun, deadline: float
) -> None:
    """Wait for the result until ``deadline``; a failing workflow task counts as stuck."""
    result = asyncio.ensure_future(handle.result())
    stuck = asyncio.ensure_future(
        history.wait_for_task_failure(
            client, handle.id, timeout=max(deadline - time.monotonic(), 0.1)
        )
    )
    left = max(deadline - time.monotonic(), 0.1)
    done, _ = await asyncio.wait({result, stuck}, timeout=left, return_when="FIRST_COMPLETED")
    for waiting in (result, stuck):
        waiting.cancel()
    if result in done and not result.cancelled():
        error = result.exception()
        if error is None:
            run.result = result.result()
        elif isinstance(error, WorkflowFailureError):
            run.failure = _failure(error)
        else:
            raise error
    elif stuck in done and not stuck.cancelled() and stuck.exception() is None:
        recorded = await history.fetch(client, handle.id)
        run.stuck = next(
            task_failure(event)
            for event in recorded.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        )
    else:
        run.overran = True


def task_failure(event: HistoryEvent) -> str:
    """A failed workflow task in a line: the exception's type and message (a bare
    ``raise NotImplementedError`` has no message, only its type)."""
    failure = event.workflow_task_failed_event_attributes.failure
    kind = failure.application_failure_info.type
    message = history.first_line(failure.message)
    return f"{kind}: {message}" if kind and message else kind or message or "unknown failure"


def _failure(error: WorkflowFailureError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return f"{cause.type}: {cause.message}"
    return f"{type(cause).__name__}: {cause}"


async def _terminate(handle: WorkflowHandle[Any, Any]) -> None:
    try:
        await handle.terminate(reason="exercise check")
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise


def _read_timers(recorded: Any, run: GateRun) -> None:
    for event in recorded.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            fire = event.timer_started_event_attributes.start_to_fire_timeout
            run.timers.append(fire.ToTimedelta().total_seconds())
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            run.fired += 1
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            run.cancelled += 1
