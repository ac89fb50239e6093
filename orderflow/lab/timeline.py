"""Retry and failure timelines: attempts and workflow history as tables and charts.

Temporal's history keeps only the last failure of a retried activity; the attempt tracker
(:mod:`orderflow.tracking`) records every attempt in the store. This module turns both into
tidy pandas DataFrames and draws the chart the tutorials are built around: one row per
step, one bar per attempt coloured by how it ended, with the retry backoff visible as the
gap between bars.

The pure functions take data (``AttemptRecord``s, dicts or a DataFrame; history events),
so they are testable on synthetic attempts; ``load_attempts`` / ``load_history`` fetch it
from the store and from Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd
from temporalio.client import Client, WorkflowHistory

from orderflow.models import (
    AttemptOutcome,
    AttemptRecord,
    CompensationName,
    OrderStatus,
    ShipmentActivity,
    StepName,
    order_workflow_id,
)
from orderflow.orders import Orders
from orderflow.teaching import history

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Attempts: TypeAlias = Iterable[AttemptRecord | Mapping[str, Any]] | pd.DataFrame
"""What the functions accept: records from the store, plain dicts, or an attempts frame."""

ATTEMPT_COLUMNS = [
    "order_id",
    "step",
    "attempt",
    "outcome",
    "error_type",
    "error_message",
    "worker",
    "started_at",
    "finished_at",
    "start_s",
    "end_s",
    "duration_s",
    "wait_before_s",
]

LOST = "lost"
"""Outcome of an attempt whose worker process was killed during it (see :func:`mark_lost`):
the tracker never recorded its end, so its row still says ``running``."""

OUTCOME_COLORS: dict[str, str] = {
    AttemptOutcome.COMPLETED: "#2e7d32",
    AttemptOutcome.FAILED: "#c62828",
    AttemptOutcome.TIMED_OUT: "#ef6c00",
    AttemptOutcome.CANCELLED: "#757575",
    AttemptOutcome.RUNNING: "#6a1b9a",
    LOST: "#6a1b9a",
}
OUTCOME_LABELS: dict[str, str] = {
    AttemptOutcome.COMPLETED: "completed",
    AttemptOutcome.FAILED: "failed",
    AttemptOutcome.TIMED_OUT: "timed out (by the server)",
    AttemptOutcome.CANCELLED: "cancelled",
    AttemptOutcome.RUNNING: "running / lost (worker gone)",
    LOST: "lost: its worker was killed",
}
ZOMBIE_COLOR = "#cfd8dc"
ZOMBIE_LABEL = "worker still busy after the server gave up (result ignored)"

FAILED_OUTCOMES = [AttemptOutcome.FAILED.value, AttemptOutcome.TIMED_OUT.value]

STEP_ORDER: list[str] = [
    StepName.RESERVE_INVENTORY.value,
    StepName.CHARGE_PAYMENT.value,
    ShipmentActivity.PACK.value,
    ShipmentActivity.DISPATCH.value,
    StepName.NOTIFY_CUSTOMER.value,
    CompensationName.UNPACK_SHIPMENT.value,
    CompensationName.REFUND_PAYMENT.value,
    CompensationName.RELEASE_INVENTORY.value,
]
"""Rows of the chart: the activities in the order an order runs them, then compensations."""


# --- attempts -------------------------------------------------------------------------


def attempts_frame(
    attempts: Attempts,
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """One row per attempt, ordered by start, with times relative to the first attempt.

    ``start_s``/``end_s`` are seconds since the order's first attempt started,
    ``wait_before_s`` is the pause since the previous attempt of the same step ended (the
    retry backoff, plus the server's dispatch latency). An attempt still ``running`` has no
    end; it is drawn up to ``as_of`` (default: the latest time in the data).
    """
    if isinstance(attempts, pd.DataFrame):
        rows = attempts.to_dict("records")
    else:
        rows = [_record_dict(item) for item in attempts]
    frame = pd.DataFrame(rows, columns=[c for c in ATTEMPT_COLUMNS if not c.endswith("_s")])
    if frame.empty:
        return pd.DataFrame(columns=ATTEMPT_COLUMNS)
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["attempt"] = frame["attempt"].astype(int)
    frame = frame.sort_values(["started_at", "step", "attempt"], kind="stable")
    frame = frame.reset_index(drop=True)
    origin = frame["started_at"].min()
    latest = pd.Timestamp(as_of) if as_of is not None else None
    if latest is None:
        latest = max(frame["started_at"].max(), frame["finished_at"].max(skipna=True))
    if latest.tzinfo is None:
        latest = latest.tz_localize("UTC")
    ends = frame["finished_at"].fillna(latest)
    frame["start_s"] = (frame["started_at"] - origin).dt.total_seconds()
    frame["end_s"] = (ends - origin).dt.total_seconds()
    frame["duration_s"] = frame["end_s"] - frame["start_s"]
    previous_end = frame.groupby("step")["end_s"].shift(1)
    frame["wait_before_s"] = frame["start_s"] - previous_end
    return frame[ATTEMPT_COLUMNS]


def _record_dict(item: AttemptRecord | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, AttemptRecord):
        return item.model_dump()
    return dict(item)


async def load_attempts(orders: Orders, order_id: str) -> pd.DataFrame:
    """The order's attempts (its :meth:`Orders.timeline`), as :func:`attempts_frame`."""
    return attempts_frame((await orders.timeline(order_id)).attempts)


def retry_summary(attempts: Attempts) -> pd.DataFrame:
    """Per step: attempts, failures by error type, time spent retrying, final outcome.

    ``retrying_s`` is the time from the first attempt's start to the last attempt's start:
    what the retries (failed attempts plus backoff) cost before the attempt that counted.
    """
    frame = _frame(attempts)
    columns = ["attempts", "failures", "failures_by_type", "retrying_s", "final_outcome"]
    if frame.empty:
        return pd.DataFrame(columns=columns).rename_axis("step")
    rows = []
    for step, group in frame.groupby("step", sort=False):
        group = group.sort_values("attempt")
        failed = group[group["outcome"] != AttemptOutcome.COMPLETED]
        by_type = failed["error_type"].fillna(failed["outcome"]).value_counts().sort_index()
        rows.append(
            {
                "step": step,
                "attempts": len(group),
                "failures": int(group["outcome"].isin(FAILED_OUTCOMES).sum()),
                "failures_by_type": ", ".join(f"{k} x{n}" for k, n in by_type.items()),
                "retrying_s": round(float(group["start_s"].max() - group["start_s"].min()), 1),
                "final_outcome": group["outcome"].iloc[-1],
            }
        )
    summary = pd.DataFrame(rows).set_index("step")
    order = [step for step in STEP_ORDER if step in summary.index]
    order += sorted(step for step in summary.index if step not in STEP_ORDER)
    return summary.loc[order, columns]


def _frame(attempts: Attempts, as_of: datetime | None = None) -> pd.DataFrame:
    """Use an attempts frame as is; build one from anything else."""
    if isinstance(attempts, pd.DataFrame) and "start_s" in attempts.columns:
        return attempts
    return attempts_frame(attempts, as_of=as_of)


def server_view(attempts: Attempts, recorded: WorkflowHistory) -> pd.DataFrame:
    """The attempts as the server timed them, from the order's history.

    The tracker records when a *worker* let go of an attempt. The server does not wait
    for that: an attempt still running when its start-to-close timeout (read from the
    history's ``ActivityTaskScheduled``) runs out is timed out there and then, and the
    retry backoff starts. Such an attempt ends at its start plus that timeout here, with
    outcome ``timed_out``; ``worker_end_s`` keeps when its worker really let go, and
    ``note`` says what happened. Other attempts are unchanged.
    """
    frame = _frame(attempts).copy()
    limits: dict[str, float] = {}
    for options in history.activity_options(recorded):
        if options.start_to_close_s is not None:
            limits.setdefault(options.activity, options.start_to_close_s)
    frame["worker_end_s"] = frame["end_s"]
    frame["note"] = ""
    limit = frame["step"].map(limits)
    over = limit.notna() & (frame["duration_s"] > limit)
    frame.loc[over, "end_s"] = frame.loc[over, "start_s"] + limit[over]
    frame.loc[over, "outcome"] = AttemptOutcome.TIMED_OUT.value
    frame.loc[over, "note"] = [
        f"timed out by the server after {seconds:g} s (start-to-close); "
        f"its worker let go {late:.1f} s later"
        for seconds, late in zip(
            limit[over], frame.loc[over, "worker_end_s"] - frame.loc[over, "end_s"], strict=True
        )
    ]
    return _with_durations(frame)


def mark_lost(attempts: Attempts, *, worker: str, at: datetime) -> pd.DataFrame:
    """The attempts, with those that ``worker`` was still running end at ``at``, ``lost``.

    A worker process killed mid-attempt (``kill -9``) never records the attempt's end: its
    row stays ``running``. ``at`` is when it was killed; the server only notices later
    (the heartbeat or start-to-close timeout), which the chart shows as the gap before
    the next attempt.
    """
    frame = _frame(attempts).copy()
    killed = _utc(at)
    lost = (frame["worker"] == worker) & (frame["outcome"] == AttemptOutcome.RUNNING.value)
    frame.loc[lost, "finished_at"] = killed
    frame.loc[lost, "outcome"] = LOST
    frame.loc[lost, "end_s"] = (
        frame.loc[lost, "finished_at"] - frame["started_at"].min()
    ).dt.total_seconds()
    return _with_durations(frame)


def _utc(when: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _with_durations(frame: pd.DataFrame) -> pd.DataFrame:
    """Recompute ``duration_s`` and ``wait_before_s`` after ends were changed."""
    frame["duration_s"] = frame["end_s"] - frame["start_s"]
    previous_end = frame.groupby("step")["end_s"].shift(1)
    frame["wait_before_s"] = frame["start_s"] - previous_end
    return frame


def status_frame(status: OrderStatus) -> pd.DataFrame:
    """The ``status`` Query's steps as a table: status, attempts, last error per step."""
    return pd.DataFrame(
        [
            {
                "step": step.name.value,
                "status": step.status.value,
                "attempts": step.attempts,
                "last_error": step.last_error or "",
            }
            for step in status.steps
        ]
    ).set_index("step")


# --- chart ----------------------------------------------------------------------------


def plot_timeline(
    attempts: Attempts,
    *,
    title: str | None = None,
    ax: Axes | None = None,
    as_of: datetime | None = None,
    marks: Mapping[str, datetime] | None = None,
) -> Figure:
    """One row per step, one bar per attempt coloured by outcome; gaps are the backoff.

    Each bar is labelled with its attempt number; each gap with its length in seconds.
    A frame from :func:`server_view` also shows, hatched, how long a worker kept an
    attempt the server had already timed out. ``marks`` are moments to draw as labelled
    vertical lines (a worker killed, a task timed out). Returns the figure (closed for
    pyplot, so a notebook shows it once, as PNG).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    frame = _frame(attempts, as_of)
    steps = [step for step in STEP_ORDER if step in set(frame["step"])]
    steps += sorted(set(frame["step"]) - set(steps))
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 0.7 * max(len(steps), 1) + 1.4), dpi=100)
        plt.close(fig)
    else:
        fig = ax.figure  # type: ignore[assignment]
    rows = {step: len(steps) - 1 - index for index, step in enumerate(steps)}
    ends = frame["worker_end_s"] if "worker_end_s" in frame else frame["end_s"]
    span = float(max(frame["end_s"].max(), ends.max())) if not frame.empty else 1.0
    min_width = max(span, 1.0) * 0.004  # keep instant attempts visible
    for record in frame.itertuples(index=False):
        y = rows[record.step]
        width = max(float(record.duration_s), min_width)
        color = OUTCOME_COLORS.get(record.outcome, "#90a4ae")
        ax.barh(
            y, width, left=record.start_s, height=0.5, color=color, edgecolor="black", linewidth=0.4
        )
        tail = float(getattr(record, "worker_end_s", record.end_s)) - float(record.end_s)
        if tail > 0.01:
            ax.barh(
                y,
                tail,
                left=record.end_s,
                height=0.5,
                color=ZOMBIE_COLOR,
                hatch="///",
                edgecolor="#607d8b",
                linewidth=0.4,
            )
        ax.annotate(
            f"#{record.attempt}",
            (record.start_s + width / 2, y + 0.3),
            ha="center",
            va="bottom",
            fontsize=8,
        )
        wait = record.wait_before_s
        if pd.notna(wait) and wait > 0.05 * max(span, 1.0):
            gap_start = record.start_s - wait
            ax.plot([gap_start, record.start_s], [y, y], linestyle=":", color="#455a64")
            ax.annotate(
                f"wait {wait:.1f} s",
                (gap_start + wait / 2, y - 0.32),
                ha="center",
                va="top",
                fontsize=7,
                color="#455a64",
            )
    origin = frame["started_at"].min() if not frame.empty else None
    for index, (label, when) in enumerate((marks or {}).items()):
        if origin is None:
            break
        x = (_utc(when) - origin).total_seconds()
        span = max(span, x)
        ax.axvline(x, color="#37474f", linestyle="--", linewidth=0.9)
        ax.annotate(
            label,
            (x, len(steps) - 0.35 - 0.3 * (index % 2)),  # staggered: close marks stay legible
            xytext=(3, 0),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color="#37474f",
        )
    ax.set_yticks(list(rows.values()), labels=list(rows.keys()))
    ax.set_ylim(-0.8, len(steps) - 0.2)
    ax.set_xlim(left=-0.02 * max(span, 1.0), right=max(span, 1.0) * 1.05)
    ax.set_xlabel("seconds since the first attempt started")
    ax.grid(axis="x", alpha=0.3)
    seen = [outcome for outcome in OUTCOME_COLORS if outcome in set(frame["outcome"])]
    handles = [Patch(color=OUTCOME_COLORS[o], label=OUTCOME_LABELS[o]) for o in seen]
    if "worker_end_s" in frame and bool((frame["worker_end_s"] > frame["end_s"] + 0.01).any()):
        handles.append(
            Patch(facecolor=ZOMBIE_COLOR, hatch="///", edgecolor="#607d8b", label=ZOMBIE_LABEL)
        )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25 if len(steps) < 3 else -0.18),
        ncol=min(max(len(handles), 1), 3),
        frameon=False,
        fontsize=8,
    )
    ax.set_title(f"Attempts of order {title}" if title else "Activity attempts", fontsize=11)
    fig.tight_layout()
    return fig


# --- workflow history -----------------------------------------------------------------


async def load_history(client: Client, order_id: str) -> pd.DataFrame:
    """Fetch the order workflow's history from Temporal, as a table (one row per event)."""
    recorded = await history.fetch(client, order_workflow_id(order_id))
    return history.history_frame(recorded.events)
