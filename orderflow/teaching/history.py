"""Record, summarise and replay event histories (tutorials 06 and 07).

An event history is the durable record of one execution. Replaying it on a version of
the workflow code re-runs that code and compares the commands it issues with the events
recorded; a mismatch is a ``NondeterminismError``, the signal that the code change would
break executions that are still running.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

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
