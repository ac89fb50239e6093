"""Helpers of tutorial 08, "Orders that wait": small, so the notebook's cells stay short.

Durable timers, the review Update, the shipment child, continue-as-new, Schedules and
visibility all happen on the real dev server of the notebook env; these functions only
place orders with the knobs the tutorial needs, wait for what Temporal records (never a
fixed sleep), and turn what it recorded into small tables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleListActionStartWorkflow,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from orderflow.models import OrderRequest, OrderState, OrderStatus
from orderflow.teaching import history
from orderflow.teaching.tally import SpendTallyWorkflow, Tally, TallyReading
from orderflow.worker import BackgroundWorker

if TYPE_CHECKING:
    import pandas as pd

    from orderflow.lab.env import NotebookEnv

T = TypeVar("T")

POLL_EVERY = 0.05
WAIT_TIMEOUT = 20.0
TEACHING_TASK_QUEUE = "teaching-08"
"""The task queue of the tutorial's own workflows (the spend tally): not the orders'."""


async def eventually(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    what: str,
    timeout: float = WAIT_TIMEOUT,
) -> T:
    """Read until ``done(value)``; a clear error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            last = history.first_line(repr(value), limit=120)
            raise TimeoutError(f"{what} did not happen within {timeout:g} s (last: {last})")
        await asyncio.sleep(POLL_EVERY)


# --- orders ------------------------------------------------------------------------------


async def place(
    env: NotebookEnv,
    sku: str,
    *,
    order_id: str,
    customer_id: str,
    quantity: int = 1,
    review_timeout: float | None = None,
    faults: Mapping[str, Any] | None = None,
) -> str:
    """Place an order through the door, with the review timeout a demo may set."""
    request = OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "items": [{"sku": sku, "quantity": quantity}],
            "review_timeout": review_timeout,
            "faults": faults,
        }
    )
    return (await env.orders.place(request)).order_id


async def until_state(
    env: NotebookEnv, order_id: str, state: OrderState, timeout: float = WAIT_TIMEOUT
) -> OrderStatus:
    """The order's status once it is in ``state`` (the ``status`` Query, polled)."""
    return await eventually(
        lambda: env.orders.status(order_id),
        lambda status: status.state == state,
        what=f"order {order_id} reaching {state.value}",
        timeout=timeout,
    )


# --- histories ---------------------------------------------------------------------------


async def until_event(
    client: Client, workflow_id: str, event_type: str, timeout: float = WAIT_TIMEOUT
) -> WorkflowHistory:
    """The history once it holds an event of this type (``"TimerFired"``, ...); an
    execution that does not exist yet (a child about to start) is waited for too."""
    found = await eventually(
        lambda: _history_if_any(client, workflow_id),
        lambda recorded: recorded is not None and event_type in event_types(recorded),
        what=f"{event_type} in the history of {workflow_id}",
        timeout=timeout,
    )
    assert found is not None
    return found


async def _history_if_any(client: Client, workflow_id: str) -> WorkflowHistory | None:
    try:
        return await history.fetch(client, workflow_id)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


def event_types(recorded: WorkflowHistory) -> list[str]:
    return [history.event_type_name(event.event_type) for event in recorded.events]


WORKFLOW_TASK_EVENTS = ("WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted")


def events(
    recorded: WorkflowHistory,
    since: str | None = None,
    *,
    tasks: bool = True,
    matching: str | None = None,
    ids: bool = True,
) -> pd.DataFrame:
    """The history as a table without times (they differ on every run).

    ``since``: from the first event of that type on. ``tasks=False``: without the workflow
    task events between the ones that tell the story. ``matching``: only event types
    matching this regular expression. ``ids=False``: without event ids (where Signals
    arrive while a workflow task runs, the ids shift a little from run to run).
    """
    frame = history.history_frame(recorded.events).drop(columns="seconds")
    if since is not None:
        first = frame.index[frame["event_type"] == since]
        frame = frame.loc[first[0] :] if len(first) else frame.iloc[0:0]
    if not tasks:
        frame = frame[~frame["event_type"].isin(WORKFLOW_TASK_EVENTS)]
    if matching is not None:
        frame = frame[frame["event_type"].str.contains(matching)]
    if not ids:
        return frame.drop(columns="event_id").reset_index(drop=True)
    return frame.set_index("event_id")


async def until_closed(
    client: Client, workflow_id: str, timeout: float = WAIT_TIMEOUT
) -> WorkflowExecutionDescription:
    """Temporal's description of an execution once it is no longer running."""
    handle = client.get_workflow_handle(workflow_id)
    return await eventually(
        handle.describe,
        lambda description: description.status != WorkflowExecutionStatus.RUNNING,
        what=f"{workflow_id} closing",
        timeout=timeout,
    )


# --- continue-as-new: the spend tally -------------------------------------------------------


def start_tally_worker(env: NotebookEnv) -> None:
    """Run the tutorial's own workflow on its own task queue; ``env.stop()`` stops it."""
    client = env.client
    if env.extra_workers.get(TEACHING_TASK_QUEUE) is None:
        env.extra_workers[TEACHING_TASK_QUEUE] = BackgroundWorker(
            lambda: Worker(client, task_queue=TEACHING_TASK_QUEUE, workflows=[SpendTallyWorkflow])
        ).start()


async def start_tally(client: Client, customer_id: str, every: int) -> WorkflowHandle[Any, Tally]:
    """A fresh spend tally for the customer (a leftover one of an earlier run is ended)."""
    workflow_id = f"spend-{customer_id}"
    try:
        await client.get_workflow_handle(workflow_id).terminate(reason="tutorial restarted")
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    return await client.start_workflow(
        SpendTallyWorkflow.run,
        Tally(customer_id=customer_id, every=every),
        id=workflow_id,
        task_queue=TEACHING_TASK_QUEUE,
    )


async def reading(client: Client, workflow_id: str) -> TallyReading:
    """The ``reading`` Query of the tally's current run."""
    return await client.get_workflow_handle(workflow_id).query(SpendTallyWorkflow.reading)


async def runs(client: Client, workflow_id: str, expected: int) -> pd.DataFrame:
    """Every run of the workflow id, oldest first: its status as visibility lists it and
    its history length (events) as ``describe`` gives it. Waits until ``expected`` runs
    are listed."""
    import pandas as pd

    listed = await eventually(
        lambda: _executions(client, f"WorkflowId = '{workflow_id}'"),
        lambda found: len(found) >= expected,
        what=f"{expected} runs of {workflow_id} in visibility",
    )
    listed.sort(key=lambda execution: execution.start_time)
    rows = []
    for number, execution in enumerate(listed, start=1):
        described = await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id
        ).describe()
        rows.append(
            {
                "run": number,
                "status": described.status.name if described.status else "",
                "history events": described.history_length,
            }
        )
    return pd.DataFrame(rows).set_index("run")


async def _executions(client: Client, query: str) -> list[Any]:
    return [execution async for execution in client.list_workflows(query)]


# --- Schedules ---------------------------------------------------------------------------


async def recreate_schedule(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleHandle:
    """Create the schedule, replacing one of that id left by an earlier run of the tutorial."""
    handle = client.get_schedule_handle(schedule_id)
    try:
        await handle.delete()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    return await client.create_schedule(schedule_id, schedule)


async def last_started_run(handle: ScheduleHandle, after: int = 0) -> str:
    """The workflow id of the schedule's latest action, once it has more than ``after``."""
    description = await eventually(
        handle.describe,
        lambda found: found.info.num_actions > after,
        what=f"schedule {handle.id} starting a run",
    )
    action = description.info.recent_actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    return action.workflow_id


def describe_spec(schedule: Schedule) -> dict[str, Any]:
    """What a schedule does and when, in a row."""
    action = schedule.action
    spec = schedule.spec
    when = [f"every {interval.every}" for interval in spec.intervals]
    when += [calendar.comment or str(calendar) for calendar in spec.calendars]
    return {
        "starts": action.workflow if isinstance(action, ScheduleActionStartWorkflow) else "",
        "when": ", ".join(when),
        "overlap": schedule.policy.overlap.name,
        "paused": schedule.state.paused,
        "note": schedule.state.note or "",
    }


async def schedules(
    client: Client, *, expect: Mapping[str, bool] | None = None, ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """The namespace's schedules as visibility lists them (``temporal schedule list``).

    ``expect`` maps schedule ids to their expected ``paused`` flag: the listing is read
    until it agrees (schedules are listed through visibility, which trails a change by a
    moment). ``ids`` restricts the table to those schedules.
    """
    import pandas as pd

    wanted = dict(expect or {})

    def agrees(found: list[Any]) -> bool:
        paused = {item.id: item.schedule.state.paused for item in found if item.schedule}
        return all(paused.get(key) == value for key, value in wanted.items())

    listed = await eventually(
        lambda: _listed_schedules(client), agrees, what="the schedule list to agree"
    )
    keep = set(ids) if ids is not None else None
    rows = []
    for item in sorted(listed, key=lambda found: found.id):
        if (keep is not None and item.id not in keep) or item.schedule is None:
            continue
        action = item.schedule.action
        rows.append(
            {
                "schedule": item.id,
                "starts": action.workflow
                if isinstance(action, ScheduleListActionStartWorkflow)
                else "",
                "paused": item.schedule.state.paused,
                "note": item.schedule.state.note or "",
            }
        )
    return pd.DataFrame(rows).set_index("schedule")


async def _listed_schedules(client: Client) -> list[Any]:
    return [item async for item in await client.list_schedules()]


# --- visibility --------------------------------------------------------------------------


async def count(client: Client, query: str, expected: int | None = None) -> int:
    """``count_workflows`` for the query; with ``expected``, read until visibility agrees
    (an upsert is listed a moment after the workflow task that made it)."""
    result = await eventually(
        lambda: client.count_workflows(query),
        lambda found: expected is None or found.count == expected,
        what=f"{expected} workflows matching {query!r}",
    )
    return result.count
