"""Timelines: attempts and history as DataFrames and charts, on synthetic and real data."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from matplotlib.colors import to_hex
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import ActivityTaskScheduledEventAttributes, HistoryEvent
from temporalio.client import WorkflowHistory

from orderflow.lab import timeline
from orderflow.models import AttemptRecord, OrderRequest, order_workflow_id
from orderflow.teaching import history

matplotlib.use("Agg")

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def attempt(step, number, start, end, outcome, error_type=None, worker="w1") -> AttemptRecord:
    return AttemptRecord(
        workflow_id="order-syn",
        order_id="syn",
        step=step,
        attempt=number,
        started_at=at(start),
        finished_at=at(end) if end is not None else None,
        outcome=outcome,
        error_type=error_type,
        error_message=f"{error_type} happened" if error_type else None,
        worker=worker,
    )


SYNTHETIC = [
    # Deliberately out of order: the frame sorts by start time.
    attempt("charge_payment", 2, 1.3, 1.4, "failed", "TransientFailure"),
    attempt("reserve_inventory", 1, 0.0, 0.1, "completed"),
    attempt("charge_payment", 1, 0.2, 0.3, "failed", "TransientFailure"),
    attempt("charge_payment", 3, 3.4, 8.4, "timed_out", "SimulatedTimeout", worker="w2"),
    attempt("charge_payment", 4, 9.4, 9.5, "completed", worker="w2"),
    attempt("notify_customer", 1, 10.0, None, "running"),
]


def test_attempts_frame_orders_rows_and_measures_backoff():
    frame = timeline.attempts_frame(SYNTHETIC, as_of=at(12.0))

    assert list(frame.columns) == timeline.ATTEMPT_COLUMNS
    assert list(zip(frame.step, frame.attempt, strict=True)) == [
        ("reserve_inventory", 1),
        ("charge_payment", 1),
        ("charge_payment", 2),
        ("charge_payment", 3),
        ("charge_payment", 4),
        ("notify_customer", 1),
    ]
    charge = frame[frame.step == "charge_payment"]
    assert charge.start_s.tolist() == pytest.approx([0.2, 1.3, 3.4, 9.4])
    assert charge.duration_s.tolist() == pytest.approx([0.1, 0.1, 5.0, 0.1])
    # The wait before each retry is the gap since the previous attempt of the same step.
    assert pd.isna(charge.wait_before_s.iloc[0])
    assert charge.wait_before_s.iloc[1:].tolist() == pytest.approx([1.0, 2.0, 1.0])
    # A lost attempt (no end) is drawn up to as_of.
    notify = frame[frame.step == "notify_customer"].iloc[0]
    assert notify.end_s == pytest.approx(12.0)
    assert pd.isna(notify.finished_at)


def test_attempts_frame_accepts_dicts_and_handles_empty_input():
    as_dicts = [record.model_dump() for record in SYNTHETIC]
    assert timeline.attempts_frame(as_dicts).equals(timeline.attempts_frame(SYNTHETIC))
    empty = timeline.attempts_frame([])
    assert empty.empty and list(empty.columns) == timeline.ATTEMPT_COLUMNS
    assert timeline.retry_summary([]).empty


def test_retry_summary_counts_failures_by_type_per_step():
    summary = timeline.retry_summary(SYNTHETIC)

    assert list(summary.index) == ["reserve_inventory", "charge_payment", "notify_customer"]
    charge = summary.loc["charge_payment"]
    assert charge.attempts == 4
    assert charge.failures == 3  # two failed, one timed out
    assert charge.failures_by_type == "SimulatedTimeout x1, TransientFailure x2"
    assert charge.retrying_s == pytest.approx(9.2)
    assert charge.final_outcome == "completed"
    assert summary.loc["reserve_inventory"].tolist() == [1, 0, "", 0.0, "completed"]
    assert summary.loc["notify_customer"].final_outcome == "running"


def test_plot_timeline_draws_one_bar_per_attempt_coloured_by_outcome():
    fig = timeline.plot_timeline(SYNTHETIC, title="syn", as_of=at(12.0))
    ax = fig.axes[0]

    assert [label.get_text() for label in ax.get_yticklabels()] == [
        "reserve_inventory",
        "charge_payment",
        "notify_customer",
    ]
    bars = ax.patches
    assert len(bars) == len(SYNTHETIC)
    colours = sorted(to_hex(bar.get_facecolor()) for bar in bars)
    expected = sorted(timeline.OUTCOME_COLORS[a.outcome] for a in SYNTHETIC)
    assert colours == expected
    texts = [text.get_text() for text in ax.texts]
    assert {"#1", "#2", "#3", "#4"} <= set(texts)
    # Backoff gaps are labelled with their length.
    assert {"wait 1.0 s", "wait 2.0 s"} <= set(texts)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [
        "completed",
        "failed",
        "timed out (by the server)",
        "running / lost (worker gone)",
    ]
    assert ax.get_title() == "Attempts of order syn"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_history_frame_names_activity_events_from_their_scheduled_event():
    def event(event_id: int, kind: int, seconds: float, **attributes) -> HistoryEvent:
        stamp = Timestamp()
        stamp.FromDatetime(at(seconds))
        message = HistoryEvent(event_id=event_id, event_type=kind, event_time=stamp)
        for name, value in attributes.items():
            getattr(message, name).CopyFrom(value)
        return message

    scheduled = HistoryEvent().activity_task_scheduled_event_attributes.__class__()
    scheduled.activity_type.name = "charge_payment"
    scheduled.retry_policy.maximum_attempts = 3
    started = HistoryEvent().activity_task_started_event_attributes.__class__(
        scheduled_event_id=5, attempt=2
    )
    events = [
        event(1, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 0.0),
        event(5, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, 0.5,
              activity_task_scheduled_event_attributes=scheduled),
        event(6, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, 1.75,
              activity_task_started_event_attributes=started),
    ]  # fmt: skip

    frame = history.history_frame(events)

    assert frame.event_type.tolist() == [
        "WorkflowExecutionStarted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
    ]
    assert frame.activity.tolist() == ["", "charge_payment", "charge_payment"]
    assert frame.details.tolist() == ["", "max attempts 3", "attempt 2"]
    assert frame.seconds.tolist() == pytest.approx([0.0, 0.5, 1.75])


@pytest.mark.usefixtures("worker")
async def test_real_retried_order_gives_matching_frames_and_chart(
    client, store, settings, order_id, product, orders
):
    sku = await product()
    request = OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": "tl",
            "items": [{"sku": sku, "quantity": 1}],
            "faults": {"charge_payment": {"fail_first_n": 2}},
            "retry": {"initial_interval": 0.1, "backoff_coefficient": 1.0},
        }
    )
    await orders.place(request)
    await orders.wait(order_id)

    frame = await timeline.load_attempts(orders, order_id)
    assert list(zip(frame.step, frame.attempt, frame.outcome, strict=True)) == [
        ("reserve_inventory", 1, "completed"),
        ("charge_payment", 1, "failed"),
        ("charge_payment", 2, "failed"),
        ("charge_payment", 3, "completed"),
        ("pack_shipment", 1, "completed"),
        ("dispatch_shipment", 1, "completed"),
        ("notify_customer", 1, "completed"),
    ]
    assert (frame.wait_before_s.dropna() > 0).all()
    summary = timeline.retry_summary(frame)
    assert summary.loc["charge_payment", "failures_by_type"] == "TransientFailure x2"

    history = await timeline.load_history(client, order_id)
    activity_events = history[history.activity == "charge_payment"]
    # History keeps one Started event for the attempt that counted: the third.
    assert activity_events.event_type.tolist() == [
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
    ]
    assert activity_events.details.iloc[1] == "attempt 3"
    assert history.event_type.iloc[-1] == "WorkflowExecutionCompleted"
    assert order_workflow_id(order_id) == frame.order_id.map(order_workflow_id).iloc[0]

    fig = timeline.plot_timeline(frame, title=order_id)
    assert len(fig.axes[0].patches) == 7  # one bar per attempt


def _scheduled_history(**timeouts: float) -> WorkflowHistory:
    """A history whose only event schedules ``charge_payment`` with these timeouts."""
    attributes = ActivityTaskScheduledEventAttributes()
    attributes.activity_type.name = "charge_payment"
    for name, seconds in timeouts.items():
        getattr(attributes, name).FromTimedelta(timedelta(seconds=seconds))
    event = HistoryEvent(
        event_id=5,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=attributes,
    )
    return WorkflowHistory("order-syn", [event])


def test_server_view_ends_an_attempt_where_the_server_timed_it_out():
    """The worker held attempt 3 for 5.0 s; the server gave up after its 4 s timeout."""
    view = timeline.server_view(SYNTHETIC, _scheduled_history(start_to_close_timeout=4))

    charge = view[view.step == "charge_payment"].set_index("attempt")
    assert charge.loc[3, "outcome"] == "timed_out"
    assert charge.loc[3, "end_s"] == pytest.approx(3.4 + 4)
    assert charge.loc[3, "worker_end_s"] == pytest.approx(8.4)
    assert charge.loc[3, "note"] == (
        "timed out by the server after 4 s (start-to-close); its worker let go 1.0 s later"
    )
    # The retry interval is counted from the server's timeout, not from the worker.
    assert charge.loc[4, "wait_before_s"] == pytest.approx(9.4 - 7.4)
    # Attempts within the timeout, and other activities, are left as they were.
    assert charge.loc[[1, 2, 4], "outcome"].tolist() == ["failed", "failed", "completed"]
    assert (charge.loc[[1, 2, 4], "end_s"] == charge.loc[[1, 2, 4], "worker_end_s"]).all()
    assert view[view.step == "reserve_inventory"].note.tolist() == [""]


def test_server_view_without_a_start_to_close_timeout_changes_nothing():
    view = timeline.server_view(SYNTHETIC, _scheduled_history(heartbeat_timeout=2))

    plain = timeline.attempts_frame(SYNTHETIC)
    assert view.outcome.tolist() == plain.outcome.tolist()
    assert view.end_s.tolist() == pytest.approx(plain.end_s.tolist())


def test_mark_lost_ends_a_killed_workers_running_attempt_at_the_kill():
    records = [
        attempt("charge_payment", 1, 0.0, None, "running", worker="A"),
        attempt("charge_payment", 2, 3.0, 6.0, "completed", worker="B"),
        attempt("notify_customer", 1, 7.0, None, "running", worker="B"),
    ]

    frame = timeline.mark_lost(records, worker="A", at=at(1.0))

    by_worker = frame.set_index(["step", "attempt"])
    assert by_worker.loc[("charge_payment", 1), "outcome"] == timeline.LOST
    assert by_worker.loc[("charge_payment", 1), "end_s"] == pytest.approx(1.0)
    assert by_worker.loc[("charge_payment", 2), "wait_before_s"] == pytest.approx(2.0)
    # Another worker's running attempt is not touched.
    assert by_worker.loc[("notify_customer", 1), "outcome"] == "running"
    # A naive time is taken as UTC.
    naive = timeline.mark_lost(records, worker="A", at=at(1.0).replace(tzinfo=None))
    assert naive.end_s.tolist() == pytest.approx(frame.end_s.tolist())


def test_plot_shows_the_workers_tail_and_labelled_marks():
    view = timeline.server_view(SYNTHETIC, _scheduled_history(start_to_close_timeout=4))

    fig = timeline.plot_timeline(view, as_of=at(12.0), marks={"worker A killed": at(2.0)})
    ax = fig.axes[0]

    # One bar per attempt, plus the hatched tail of the timed-out one.
    assert len(ax.patches) == len(SYNTHETIC) + 1
    assert [patch.get_hatch() for patch in ax.patches].count("///") == 1
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert timeline.ZOMBIE_LABEL in legend
    assert "worker A killed" in [text.get_text() for text in ax.texts]
    assert any(line.get_xdata()[0] == pytest.approx(2.0) for line in ax.get_lines())
