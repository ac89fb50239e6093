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
