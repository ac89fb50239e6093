"""Record, summarise and replay event histories (tutorials 06 and 07).

An event history is the durable record of one execution. Replaying it on a version of
the workflow code re-runs that code and compares the commands it issues with the events
recorded; a mismatch is a ``NondeterminismError``, the signal that the code change would
break executions that are still running.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

if TYPE_CHECKING:
    import pandas as pd

COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "schedule activity",
    EventType.EVENT_TYPE_TIMER_STARTED: "start timer",
    EventType.EVENT_TYPE_MARKER_RECORDED: "record marker",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "complete workflow",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "fail workflow",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert search attributes",
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "modify properties (memo)",
}
"""Events that a workflow *command* produced: exactly what replay checks the code against."""


PATCH_MARKER = "core_patch"
PATCH_DETAILS = "patch-data"
"""How the SDK records ``workflow.patched`` in a history: a marker event with these names."""


async def wait_for_task_failure(
    client: Client, workflow_id: str, *, timeout: float = 20.0
) -> list[str]:
    """Poll the history until a workflow task has failed; return the failures."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        failures = workflow_task_failures(await fetch(client, workflow_id))
        if failures:
            return failures
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no workflow task of {workflow_id} failed in {timeout:g} s")
        await asyncio.sleep(0.1)


async def fetch(client: Client, workflow_id: str) -> WorkflowHistory:
    """The full event history of a workflow execution (latest run)."""
    return await client.get_workflow_handle(workflow_id).fetch_history()


def load(path: Path) -> WorkflowHistory:
    """A history saved as JSON (``WorkflowHistory.to_json``, or the UI's / CLI's export)."""
    return WorkflowHistory.from_json(path.stem, path.read_text())


def commands(history: WorkflowHistory) -> list[str]:
    """The history's command events as short lines: ``schedule activity charge_payment``."""
    lines = []
    for event in history.events:
        kind = COMMAND_EVENTS.get(event.event_type)
        if kind is None:
            continue
        detail = ""
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            detail = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timeout = event.timer_started_event_attributes.start_to_fire_timeout
            detail = f"{timeout.ToTimedelta().total_seconds():g} s"
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            patch = _patch_id(event)
            detail = (
                f"patch {patch!r}" if patch else event.marker_recorded_event_attributes.marker_name
            )
        lines.append(f"{kind} {detail}".strip())
    return lines


def activity_sequence(history: WorkflowHistory) -> list[str]:
    """Activity types in the order the workflow scheduled them."""
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def patch_ids(history: WorkflowHistory) -> list[str]:
    """Ids of the ``workflow.patched`` markers recorded in the history."""
    return [
        patch
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and (patch := _patch_id(event)) is not None
    ]


def _patch_id(event: Any) -> str | None:
    """The id of a ``workflow.patched`` marker (core records ``{"id": ..., "deprecated": ...}``)."""
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != PATCH_MARKER or PATCH_DETAILS not in attributes.details:
        return None
    payloads = attributes.details[PATCH_DETAILS].payloads
    if not payloads:
        return None
    data = pydantic_data_converter.payload_converter.from_payloads(payloads)[0]
    return str(data.get("id")) if isinstance(data, dict) else None


def workflow_task_failures(history: WorkflowHistory) -> list[str]:
    """Failed workflow tasks (cause and first line of the message), oldest first."""
    failures = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            continue
        attributes = event.workflow_task_failed_event_attributes
        cause = WorkflowTaskFailedCause.Name(attributes.cause).removeprefix(
            "WORKFLOW_TASK_FAILED_CAUSE_"
        )
        failures.append(f"{cause}: {first_line(attributes.failure.message)}")
    return failures


_CORE_MESSAGE = re.compile(r'message: "(?P<message>(?:[^"\\]|\\.)*)"')


def readable(error: BaseException) -> str:
    """The message a replay failure carries, without the core SDK's debug wrapping."""
    text = str(error)
    found = _CORE_MESSAGE.search(text)
    return first_line(found.group("message") if found else text, limit=200)


def first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class ReplayOutcome:
    """One history replayed on one version of the code."""

    workflow_id: str
    ok: bool
    error_type: str | None = None
    error: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.workflow_id}: replays"
        return f"{self.workflow_id}: {self.error_type}: {self.error}"


def replayer(workflow_class: type, client: Client | None = None) -> Replayer:
    """A Replayer for one version of the workflow, with the project's data converter.

    With ``client``, it runs on that client's runtime, so the core SDK's log lines about a
    failed replay go where that client's go (the notebook's log file, not the cell).
    """
    runtime = client.service_client.config.runtime if client is not None else None
    return Replayer(
        workflows=[workflow_class], data_converter=pydantic_data_converter, runtime=runtime
    )


async def replay(
    workflow_class: type, histories: Iterable[WorkflowHistory], *, client: Client | None = None
) -> list[ReplayOutcome]:
    """Replay each history on ``workflow_class``; never raises for a replay failure."""
    outcomes = []
    async with replayer(workflow_class, client).workflow_replay_iterator(
        _as_async(histories)
    ) as results:
        async for result in results:
            error = result.replay_failure
            outcomes.append(
                ReplayOutcome(
                    workflow_id=result.history.workflow_id,
                    ok=error is None,
                    error_type=type(error).__name__ if error else None,
                    error=readable(error) if error else None,
                )
            )
    return outcomes


async def _as_async(histories: Iterable[WorkflowHistory]) -> Any:
    for history in histories:
        yield history


def table(outcomes: Sequence[ReplayOutcome]) -> list[dict[str, str]]:
    """Rows for a DataFrame: history, verdict, reason."""
    return [
        {
            "history": outcome.workflow_id,
            "replay": "ok" if outcome.ok else "FAILS",
            "reason": "" if outcome.ok else f"{outcome.error_type}: {outcome.error}",
        }
        for outcome in outcomes
    ]


# --- a history as a table (tutorials 01-03, the notebook env) ---------------------------


def event_type_name(event_type: int) -> str:
    """``EVENT_TYPE_ACTIVITY_TASK_FAILED`` -> ``ActivityTaskFailed``."""
    raw = EventType.Name(event_type).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in raw.split("_"))


def history_frame(events: Sequence[HistoryEvent]) -> pd.DataFrame:
    """The event history as a table: id, time, type, the activity it concerns, details.

    ``seconds`` is relative to the first event. Activity events after ``Scheduled`` carry
    only the scheduled event's id; the activity name is filled in from it.
    """
    import pandas as pd

    activity_names: dict[int, str] = {}
    rows = []
    origin = events[0].event_time.ToDatetime() if events else None
    for event in events:
        kind = event_type_name(event.event_type)
        attributes = _attributes(event)
        activity = ""
        if kind == "ActivityTaskScheduled":
            activity = event.activity_task_scheduled_event_attributes.activity_type.name
            activity_names[event.event_id] = activity
        elif "scheduledEventId" in attributes and kind.startswith("ActivityTask"):
            activity = activity_names.get(int(attributes["scheduledEventId"]), "")
        when = event.event_time.ToDatetime()
        rows.append(
            {
                "event_id": event.event_id,
                "seconds": round((when - origin).total_seconds(), 3) if origin else 0.0,
                "event_type": kind,
                "activity": activity,
                "details": _details(kind, attributes),
            }
        )
    return pd.DataFrame(rows, columns=["event_id", "seconds", "event_type", "activity", "details"])


def _attributes(event: HistoryEvent) -> dict[str, Any]:
    which = event.WhichOneof("attributes")
    if which is None:
        return {}
    return MessageToDict(getattr(event, which))


def _details(kind: str, attributes: Mapping[str, Any]) -> str:
    """A short readable note for the events a learner cares about."""
    if kind == "ActivityTaskStarted":
        return f"attempt {attributes.get('attempt', 1)}"
    if kind in {"ActivityTaskFailed", "WorkflowExecutionFailed"}:
        failure = attributes.get("failure", {})
        cause = failure.get("cause", {})
        return str(cause.get("message") or failure.get("message", ""))
    if kind == "ActivityTaskTimedOut":
        return str(attributes.get("failure", {}).get("message", "timed out"))
    if kind == "TimerStarted":
        return f"timer {attributes.get('startToFireTimeout', '')}"
    if kind == "WorkflowExecutionSignaled":
        return f"signal {attributes.get('signalName', '')}"
    if kind == "WorkflowExecutionUpdateAccepted":
        return f"update {attributes.get('acceptedRequest', {}).get('input', {}).get('name', '')}"
    if kind == "ActivityTaskScheduled":
        retry = attributes.get("retryPolicy", {})
        return f"max attempts {retry.get('maximumAttempts', 0) or 'unlimited'}"
    return ""


# --- what each event means (tutorials 01-03) ----------------------------------------------

EVENT_MEANINGS: dict[str, str] = {
    "WorkflowExecutionStarted": (
        "A client started the workflow: its type, id, task queue and input are recorded."
    ),
    "WorkflowTaskScheduled": (
        "The workflow has something new to react to (its start, an activity result, a "
        "message, a fired timer): the server puts a workflow task on the task queue."
    ),
    "WorkflowTaskStarted": "A worker took that workflow task from the task queue.",
    "WorkflowTaskCompleted": (
        "The worker ran the workflow code until it had to wait again and answered with "
        "commands; the events right after it are those commands."
    ),
    "WorkflowTaskFailed": (
        "The workflow code raised an error or could not replay its history: the task is "
        "retried, the workflow itself keeps running."
    ),
    "WorkflowTaskTimedOut": (
        "No worker finished the workflow task in time, e.g. it waited on the sticky queue "
        "of a worker that had died: the server schedules it again for any worker."
    ),
    "ActivityTaskScheduled": (
        "A command: run this activity, with these timeouts and this retry policy. The "
        "server puts an activity task on the task queue."
    ),
    "ActivityTaskStarted": (
        "A worker ran the activity. Written when the activity closes, once, for its last "
        "attempt (with the attempt number and the previous attempt's failure)."
    ),
    "ActivityTaskCompleted": (
        "The activity returned; its result is now in the history, so a replay reads it "
        "instead of running the activity again."
    ),
    "ActivityTaskFailed": (
        "The activity failed for good: a non-retryable error, or no attempt left."
    ),
    "ActivityTaskTimedOut": "The server gave up on the activity after a timeout, no retry left.",
    "ActivityTaskCancelRequested": "A command: cancel this running activity.",
    "ActivityTaskCanceled": "The activity stopped after the cancel request.",
    "TimerStarted": (
        "A command: start a durable timer (workflow.sleep, or a wait with a timeout). "
        "The server keeps it and fires it, with or without a worker running."
    ),
    "TimerFired": "The timer went off; the workflow is woken up by a new workflow task.",
    "TimerCanceled": "A command: the timer is no longer needed (what it waited for came first).",
    "MarkerRecorded": (
        "A command that only records a fact for replay: a `workflow.patched(...)` "
        "decision (this execution took the patched code path), or a local activity's result."
    ),
    "UpsertWorkflowSearchAttributes": (
        "A command: set the workflow's search attributes (what lists, filters and counts "
        "query). `workflow.patched` also writes one (TemporalChangeVersion)."
    ),
    "WorkflowPropertiesModified": "A command: change the workflow's memo (workflow.upsert_memo).",
    "WorkflowExecutionSignaled": (
        "A Signal arrived: its name and input are recorded before the workflow sees it."
    ),
    "WorkflowExecutionUpdateAccepted": (
        "An Update passed its validator; from here on it is part of the history."
    ),
    "WorkflowExecutionUpdateCompleted": (
        "The Update's handler finished; its result went back to the caller."
    ),
    "WorkflowExecutionCancelRequested": (
        "Someone asked Temporal to cancel the workflow (handle.cancel(), `temporal "
        "workflow cancel`, the UI); the workflow code decides what that means."
    ),
    "StartChildWorkflowExecutionInitiated": "A command: start a child workflow.",
    "ChildWorkflowExecutionStarted": "The child workflow is running (it has its own history).",
    "ChildWorkflowExecutionCompleted": "The child workflow completed; its result is recorded.",
    "ChildWorkflowExecutionFailed": "The child workflow failed.",
    "ChildWorkflowExecutionCanceled": "The child workflow was cancelled.",
    "ChildWorkflowExecutionTerminated": "The child workflow was terminated.",
    "ChildWorkflowExecutionTimedOut": "The child workflow timed out.",
    "RequestCancelExternalWorkflowExecutionInitiated": (
        "A command: ask another workflow (e.g. a child) to cancel."
    ),
    "ExternalWorkflowExecutionCancelRequested": "That cancel request was delivered.",
    "SignalExternalWorkflowExecutionInitiated": "A command: signal another workflow.",
    "ExternalWorkflowExecutionSignaled": "That Signal was delivered.",
    "WorkflowExecutionCompleted": "A command: the workflow returned; its result is recorded.",
    "WorkflowExecutionFailed": "A command: the workflow raised a failure and closed FAILED.",
    "WorkflowExecutionCanceled": (
        "A command: the workflow accepted Temporal's cancellation and closed CANCELED."
    ),
    "WorkflowExecutionTerminated": (
        "Someone terminated the workflow: it closed at once, no workflow code ran."
    ),
    "WorkflowExecutionTimedOut": "The workflow hit its run or execution timeout and closed.",
    "WorkflowExecutionContinuedAsNew": "The workflow closed and continued in a fresh run.",
}
"""One sentence per event type, for the tables that explain a history."""


def explain_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The event types of a :func:`history_frame`, in order of first appearance, with how
    many there are and what each means (an unknown type says so instead of guessing)."""
    import pandas as pd

    counts = frame["event_type"].value_counts()
    kinds = list(dict.fromkeys(frame["event_type"]))
    return pd.DataFrame(
        {
            "event_type": kinds,
            "count": [int(counts[kind]) for kind in kinds],
            "meaning": [
                EVENT_MEANINGS.get(kind, "(not explained in these tutorials)") for kind in kinds
            ],
        }
    ).set_index("event_type")


@dataclass(frozen=True)
class ActivityOptions:
    """What the workflow asked for when it scheduled an activity (its command's options)."""

    activity: str
    start_to_close_s: float | None
    heartbeat_s: float | None
    schedule_to_close_s: float | None
    retry: Mapping[str, Any]
    """The retry policy as recorded: initialInterval, backoffCoefficient, maximumAttempts,
    maximumInterval, nonRetryableErrorTypes (absent fields were left at their defaults)."""


def activity_options(recorded: WorkflowHistory) -> list[ActivityOptions]:
    """The options of every activity the workflow scheduled, in order (the call site as
    the server received it: timeouts and retry policy)."""
    options = []
    for event in recorded.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attributes = event.activity_task_scheduled_event_attributes
        options.append(
            ActivityOptions(
                activity=attributes.activity_type.name,
                start_to_close_s=_seconds(attributes, "start_to_close_timeout"),
                heartbeat_s=_seconds(attributes, "heartbeat_timeout"),
                schedule_to_close_s=_seconds(attributes, "schedule_to_close_timeout"),
                retry=MessageToDict(attributes.retry_policy),
            )
        )
    return options


def _seconds(attributes: Any, name: str) -> float | None:
    if not attributes.HasField(name):
        return None
    seconds = getattr(attributes, name).ToTimedelta().total_seconds()
    return seconds or None


@dataclass(frozen=True)
class ActivityClose:
    """How an activity ended, from its closing events: the last attempt and why the one
    before it failed (the server writes only the last attempt to the history)."""

    activity: str
    attempt: int
    outcome: str
    """``completed``, ``failed``, ``timed_out`` or ``canceled``."""
    previous_failure: str | None
    """The failure of the attempt before the last: ``activity Heartbeat timeout``, ..."""
    failure: str | None


def activity_closes(recorded: WorkflowHistory) -> list[ActivityClose]:
    """One :class:`ActivityClose` per activity that has closed, in order."""
    names: dict[int, str] = {}
    started: dict[int, Any] = {}
    closes = []
    outcomes = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "failed",
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "timed_out",
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "canceled",
    }
    for event in recorded.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled_type = event.activity_task_scheduled_event_attributes.activity_type
            names[event.event_id] = scheduled_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            started[attributes.scheduled_event_id] = attributes
        elif event.event_type in outcomes:
            attributes = _attributes_message(event)
            scheduled = attributes.scheduled_event_id
            start = started.get(scheduled)
            failure = attributes.failure.message if hasattr(attributes, "failure") else ""
            closes.append(
                ActivityClose(
                    activity=names.get(scheduled, ""),
                    attempt=start.attempt if start is not None else 0,
                    outcome=outcomes[event.event_type],
                    previous_failure=(
                        start.last_failure.message
                        if start is not None and start.HasField("last_failure")
                        else None
                    ),
                    failure=failure or None,
                )
            )
    return closes


def _attributes_message(event: HistoryEvent) -> Any:
    which = event.WhichOneof("attributes")
    return getattr(event, which) if which else None


def event_times(recorded: WorkflowHistory, event_type: str) -> list[Any]:
    """When each event of this type (``WorkflowTaskTimedOut``, ...) was written (UTC)."""
    return [
        event.event_time.ToDatetime(tzinfo=UTC)
        for event in recorded.events
        if event_type_name(event.event_type) == event_type
    ]


def messages(recorded: WorkflowHistory) -> list[tuple[str, str]]:
    """The Signals and accepted Updates in a history, in order: ``("signal", "cancel")``,
    ``("update", "cancel_order")``. Queries and refused Updates leave no event."""
    found = []
    for event in recorded.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            found.append(("signal", event.workflow_execution_signaled_event_attributes.signal_name))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = event.workflow_execution_update_accepted_event_attributes
            found.append(("update", accepted.accepted_request.input.name))
    return found
