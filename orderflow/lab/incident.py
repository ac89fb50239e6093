"""Tables and charts for tutorial 09 ("When things break in production").

- :func:`load_attempts_of` + :func:`plot_retry_pileup`: failed attempts piling up across
  many orders during an outage, with the operator's moves (pause, fix, unpause) marked.
- :func:`plot_takeover`: one order's attempts around a ``kill -9`` of its worker: the
  attempt lost with the process, the gap, the attempt another worker ran
  (:func:`orderflow.lab.timeline.plot_timeline` with the kill drawn in).
- :func:`history_around`: the events of a run around one event (a reset point), with the
  reason a workflow task failed, which the general history table leaves out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from orderflow import ops
from orderflow.lab import timeline
from orderflow.models import AttemptOutcome, AttemptRecord, StepName, order_workflow_id
from orderflow.orders import Orders
from orderflow.teaching import history

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FAILED = (AttemptOutcome.FAILED.value, AttemptOutcome.TIMED_OUT.value)
WAIT = 30.0
POLL_EVERY = 0.1


async def wait_for_pending(
    client: Client,
    order_ids: Iterable[str],
    accept: Callable[[ops.PendingActivity], bool],
    *,
    step: str = StepName.CHARGE_PAYMENT.value,
    timeout: float = WAIT,
) -> list[ops.PendingActivity]:
    """Poll the orders' pending ``step`` activity until ``accept`` holds for every one."""
    workflow_ids = [order_workflow_id(order_id) for order_id in order_ids]
    deadline = time.monotonic() + timeout
    while True:
        found = [await ops.pending_activity(client, wid, step) for wid in workflow_ids]
        if all(p is not None and accept(p) for p in found):
            return [p for p in found if p is not None]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{step} of {workflow_ids} did not get there in {timeout:g} s")
        await asyncio.sleep(POLL_EVERY)


def pending_table(pending: Iterable[ops.PendingActivity], *, attempts: bool = True) -> pd.DataFrame:
    """Pending activities as a table; ``attempts=False`` leaves out the columns that differ
    from run to run (the attempt number, and the last failure, which names it)."""
    frame = pd.DataFrame([p.row() for p in pending])
    if not attempts and not frame.empty:
        frame = frame.drop(columns=["attempt", "last_failure"])
    return frame


async def wait_for_running_attempt(
    orders: Orders, order_id: str, step: str, *, timeout: float = WAIT
) -> AttemptRecord:
    """The attempt of ``step`` a worker has started and not finished (who runs it now)."""
    deadline = time.monotonic() + timeout
    while True:
        for attempt in (await orders.timeline(order_id)).attempts:
            if attempt.step == step and attempt.outcome == AttemptOutcome.RUNNING:
                return attempt
        if time.monotonic() > deadline:
            raise TimeoutError(f"no running {step} attempt of {order_id} in {timeout:g} s")
        await asyncio.sleep(POLL_EVERY)


async def load_attempts_of(orders: Orders, order_ids: Iterable[str]) -> pd.DataFrame:
    """Every recorded attempt of several orders, one row each, ``order_id`` included."""
    rows = []
    for order_id in order_ids:
        for attempt in (await orders.timeline(order_id)).attempts:
            rows.append(attempt.model_dump())
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.sort_values("started_at", kind="stable").reset_index(drop=True)


def plot_retry_pileup(
    attempts: pd.DataFrame,
    *,
    step: str = StepName.CHARGE_PAYMENT.value,
    marks: Mapping[str, datetime] | None = None,
    title: str = "Failed payment attempts while the provider is down",
) -> Figure:
    """Cumulative failed attempts of ``step`` per order over time (one line per order);
    ``marks`` draws the operator's moves as labelled vertical lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    plt.close(fig)
    mine = attempts[attempts["step"] == step] if not attempts.empty else attempts
    origin = mine["started_at"].min() if not mine.empty else None
    for order_id, group in mine.groupby("order_id", sort=True):
        failed = group[group["outcome"].isin(FAILED)].sort_values("started_at")
        seconds = [0.0, *((failed["started_at"] - origin).dt.total_seconds())]
        counts = list(range(len(seconds)))
        end = (group["started_at"].max() - origin).total_seconds()
        ax.step([*seconds, end], [*counts, counts[-1]], where="post", label=str(order_id))
    for label, when in (marks or {}).items():
        if origin is None:
            break
        x = (pd.Timestamp(when) - origin).total_seconds()
        ax.axvline(x, color="#455a64", linestyle="--", linewidth=1)
        ax.annotate(label, (x, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    ha="right", va="bottom", fontsize=8, color="#455a64")  # fmt: skip
    ax.set_xlabel("seconds since the first payment attempt")
    ax.set_ylabel("failed attempts")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def takeover_gap(attempts: pd.DataFrame, killed_at: datetime, *, step: str) -> float:
    """Seconds from the kill to the start of the next attempt of ``step`` (on another
    worker): the takeover gap (the activity's heartbeat timeout plus its retry interval)."""
    later = attempts["started_at"] > pd.Timestamp(killed_at)
    after = attempts[(attempts["step"] == step) & later]
    if after.empty:
        raise LookupError(f"no attempt of {step} started after the kill")
    return float((after["started_at"].min() - pd.Timestamp(killed_at)).total_seconds())


def plot_takeover(
    attempts: pd.DataFrame, killed_at: datetime, *, killed_worker: str, title: str
) -> Figure:
    """The order's attempt timeline with the kill drawn in: the attempt the killed worker
    never finished ends at the kill, a dashed line marks it, the gap is labelled."""
    frame = attempts.copy()
    kill = pd.Timestamp(killed_at)
    lost = (frame["worker"] == killed_worker) & frame["finished_at"].isna()
    frame.loc[lost, "finished_at"] = kill
    drawn = timeline.attempts_frame(frame)
    fig = timeline.plot_timeline(drawn, title=title)
    ax = fig.axes[0]
    origin = drawn["started_at"].min()
    x = (kill - origin).total_seconds()
    ax.axvline(x, color="#c62828", linestyle="--", linewidth=1.2)
    ax.annotate("kill -9", (x, 1.0), xycoords=("data", "axes fraction"), ha="left",
                va="bottom", fontsize=8, color="#c62828")  # fmt: skip
    lost_steps = drawn[lost.to_numpy()]["step"] if lost.any() else []
    rows = [label.get_text() for label in ax.get_yticklabels()]
    for step in set(lost_steps):
        gap = takeover_gap(drawn, killed_at, step=step)
        y = ax.get_yticks()[rows.index(step)]
        ax.annotate(f"takeover {gap:.1f} s", (x + gap / 2, y + 0.3), ha="center",
                    va="bottom", fontsize=8, color="#c62828")  # fmt: skip
        _mark_next_step_wait(ax, drawn, step, rows)
    return fig


def _mark_next_step_wait(ax: Axes, drawn: pd.DataFrame, step: str, rows: list[str]) -> None:
    """Label the pause between the taken-over step and the next one, when it is long (the
    next workflow task may wait for the killed worker's sticky queue to time out)."""
    done = drawn[(drawn["step"] == step) & (drawn["outcome"] == AttemptOutcome.COMPLETED.value)]
    if done.empty:
        return
    end = float(done["end_s"].max())
    later = drawn[drawn["start_s"] > end]
    if later.empty:
        return
    following = later.sort_values("start_s").iloc[0]
    wait = float(following["start_s"]) - end
    if wait < 1.0:
        return
    y = ax.get_yticks()[rows.index(str(following["step"]))]
    ax.plot([end, float(following["start_s"])], [y, y], linestyle=":", color="#455a64")
    ax.annotate(f"next step after {wait:.1f} s", (end + wait / 2, y + 0.3), ha="center",
                va="bottom", fontsize=8, color="#455a64")  # fmt: skip


def history_around(
    events: Sequence[HistoryEvent], event_id: int, *, before: int = 3, after: int = 4
) -> pd.DataFrame:
    """The events ``event_id - before`` .. ``event_id + after`` of a run, as a table
    (the history table of :mod:`orderflow.teaching.history`, plus why a workflow task
    failed: a reset writes its point as ``WorkflowTaskFailed`` with cause RESET_WORKFLOW)."""
    frame = history.history_frame(events)
    causes = {event.event_id: note for event in events if (note := _task_note(event))}
    frame["details"] = [
        causes.get(event_id_, details)
        for event_id_, details in zip(frame["event_id"], frame["details"], strict=True)
    ]
    window = frame[(frame.event_id >= event_id - before) & (frame.event_id <= event_id + after)]
    return window[["event_id", "event_type", "activity", "details"]].reset_index(drop=True)


def _task_note(event: HistoryEvent) -> str:
    """What the general table leaves out about a workflow task: why it failed or timed
    out, and which worker picked it up."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        return _failed_task(event)
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        kind = event.workflow_task_timed_out_event_attributes.timeout_type
        return "timed out: " + TimeoutType.Name(kind).removeprefix("TIMEOUT_TYPE_")
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        return f"by {event.workflow_task_started_event_attributes.identity}"
    return ""


def _failed_task(event: HistoryEvent) -> str:
    attributes = event.workflow_task_failed_event_attributes
    cause = WorkflowTaskFailedCause.Name(attributes.cause).removeprefix(
        "WORKFLOW_TASK_FAILED_CAUSE_"
    )
    # The message of a reset is "<who>: <reason>" (the CLI puts the user name first): the
    # cause says what happened without naming the machine's user.
    if attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
        return f"{cause} (reset point)"
    return f"{cause}: {history.first_line(attributes.failure.message, limit=80)}"
