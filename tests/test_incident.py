"""Tutorial 09's tables and charts on synthetic attempts and histories (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

from orderflow import ops
from orderflow.lab import incident

matplotlib.use("Agg")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def attempts(*rows: tuple[str, str, int, float, float | None, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "order_id": order,
                "workflow_id": f"order-{order}",
                "step": step,
                "attempt": attempt,
                "started_at": at(start),
                "finished_at": at(end) if end is not None else None,
                "outcome": outcome,
                "error_type": None,
                "error_message": None,
                "worker": worker,
            }
            for order, step, attempt, start, end, outcome, worker in rows
        ]
    ).assign(
        started_at=lambda f: pd.to_datetime(f.started_at, utc=True),
        finished_at=lambda f: pd.to_datetime(f.finished_at, utc=True),
    )


CRASH = attempts(
    ("c", "reserve_inventory", 1, 0.0, 0.1, "completed", "worker-1.1"),
    ("c", "charge_payment", 1, 0.2, None, "running", "worker-1.1"),  # lost with the kill
    ("c", "charge_payment", 2, 3.5, 6.5, "completed", "worker-2.1"),
    ("c", "notify_customer", 1, 16.5, 16.6, "completed", "worker-2.1"),
)


def test_takeover_gap_is_kill_to_the_next_attempt():
    assert incident.takeover_gap(CRASH, at(1.0), step="charge_payment") == pytest.approx(2.5)
    with pytest.raises(LookupError):
        incident.takeover_gap(CRASH, at(7.0), step="charge_payment")


def test_takeover_chart_ends_the_lost_attempt_at_the_kill_and_labels_both_waits():
    figure = incident.plot_takeover(CRASH, at(1.0), killed_worker="worker-1.1", title="c")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "kill -9" in texts
    assert "takeover 2.5 s" in texts
    assert "next step after 10.0 s" in texts
    assert CRASH["finished_at"].isna().sum() == 1  # the caller's frame is left as it was


def test_retry_pileup_counts_failures_per_order_with_marks():
    frame = attempts(
        ("a", "charge_payment", 1, 0.0, 0.1, "failed", "w"),
        ("a", "charge_payment", 2, 1.0, 1.1, "failed", "w"),
        ("a", "charge_payment", 3, 4.0, 4.1, "completed", "w"),
        ("b", "charge_payment", 1, 0.1, 0.2, "failed", "w"),
        ("b", "charge_payment", 2, 4.0, 4.1, "completed", "w"),
    )
    figure = incident.plot_retry_pileup(frame, marks={"paused": at(2.0)})
    ax = figure.axes[0]
    heights = {
        line.get_label(): max(line.get_ydata())
        for line in ax.get_lines()
        if line.get_label() in "ab"
    }
    assert heights == {"a": 2, "b": 1}
    assert "paused" in [text.get_text() for text in ax.texts]


def event(event_id: int, kind: EventType.ValueType, **fill: object) -> HistoryEvent:
    made = HistoryEvent(event_id=event_id, event_type=kind)
    made.event_time.FromDatetime(at(event_id))
    if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        made.workflow_task_failed_event_attributes.cause = (
            WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        )
        made.workflow_task_failed_event_attributes.failure.message = "someuser: the reason"
    if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        made.workflow_task_started_event_attributes.identity = str(fill.get("identity", ""))
    return made


HISTORY = [
    event(1, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
    event(2, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    event(3, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, identity="worker-1.1"),
    event(4, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    event(5, EventType.EVENT_TYPE_TIMER_STARTED),
    event(6, EventType.EVENT_TYPE_TIMER_FIRED),
    event(7, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    event(8, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, identity="worker-2.1"),
    event(9, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED),
]


def test_history_around_names_the_reset_point_without_the_user():
    table = incident.history_around(HISTORY, 9, before=2, after=0)
    assert list(table.event_id) == [7, 8, 9]
    assert list(table.details) == ["", "by worker-2.1", "RESET_WORKFLOW (reset point)"]
    assert "someuser" not in table.to_string()


def test_reset_points():
    assert ops.workflow_task_before(HISTORY, EventType.EVENT_TYPE_TIMER_STARTED) == 4
    assert ops.reset_point(HISTORY, ops.ResetTo.FIRST_WORKFLOW_TASK) == 4
    with pytest.raises(LookupError):
        ops.workflow_task_before(HISTORY, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    with pytest.raises(LookupError):
        ops.reset_point(HISTORY[:3], ops.ResetTo.LAST_WORKFLOW_TASK)


def test_cli_result_reads_like_a_terminal():
    ok = ops.CliResult(
        ["activity", "pause", "-w", "order-1", "--reason", "provider down"], 0, "", ""
    )
    assert str(ok) == "$ temporal activity pause -w order-1 --reason 'provider down'"
    failed = ops.CliResult(["workflow", "reset"], 1, "", "Error: no such workflow\n")
    assert str(failed).endswith("Error: no such workflow\n(exit status 1)")
