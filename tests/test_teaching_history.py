"""The history readers the tutorials explain histories with, on the committed histories
(real orders recorded by ``python -m tests.record_histories`` and the reliability drills)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from orderflow.teaching import history

HISTORIES = Path(__file__).resolve().parent / "histories"
EVERY_HISTORY = sorted(HISTORIES.glob("**/*.json"))


def recorded(name: str) -> WorkflowHistory:
    return history.load(HISTORIES / name)


@pytest.mark.parametrize("path", EVERY_HISTORY, ids=lambda path: path.stem)
def test_every_event_type_of_a_recorded_order_is_explained(path: Path) -> None:
    frame = history.history_frame(history.load(path).events)

    explained = history.explain_events(frame)

    assert list(explained.index) == list(dict.fromkeys(frame.event_type))
    assert explained["count"].sum() == len(frame)
    unexplained = explained[explained.meaning.str.startswith("(not explained")]
    assert unexplained.empty, list(unexplained.index)


def test_an_unknown_event_type_says_so_instead_of_guessing() -> None:
    frame = history.history_frame(recorded("happy_path.json").events)
    frame.loc[0, "event_type"] = "NexusOperationScheduled"

    explained = history.explain_events(frame)

    assert explained.loc["NexusOperationScheduled", "meaning"] == (
        "(not explained in these tutorials)"
    )


def test_activity_options_are_the_call_sites_timeouts_and_retry_policy() -> None:
    options = {o.activity: o for o in history.activity_options(recorded("v2/happy_path.json"))}

    assert list(options) == ["reserve_inventory", "charge_payment", "notify_customer"]
    charge = options["charge_payment"]
    assert charge.start_to_close_s == 5.0
    assert charge.heartbeat_s is None
    assert charge.retry["maximumAttempts"] == 8
    assert "CardDeclined" in charge.retry["nonRetryableErrorTypes"]
    assert options["notify_customer"].retry["maximumAttempts"] == 5


@pytest.mark.parametrize(
    ("name", "activity", "attempt", "outcome", "previous"),
    [
        ("v2/hung_attempt_timeout.json", "reserve_inventory", 2, "completed",
         "activity StartToClose timeout"),
        ("reliability/drill-worker-killed-0.json", "charge_payment", 2, "completed",
         "activity Heartbeat timeout"),
        ("v2/retries_exhausted.json", "reserve_inventory", 2, "failed",
         "inventory service unavailable (simulated, attempt 1)"),
        ("v2/happy_path.json", "charge_payment", 1, "completed", None),
    ],
    ids=["start-to-close", "heartbeat", "exhausted", "first-try"],
)  # fmt: skip
def test_activity_closes_give_the_last_attempt_and_why_the_one_before_failed(
    name: str, activity: str, attempt: int, outcome: str, previous: str | None
) -> None:
    closes = {close.activity: close for close in history.activity_closes(recorded(name))}

    close = closes[activity]
    assert (close.attempt, close.outcome, close.previous_failure) == (attempt, outcome, previous)


def test_messages_list_signals_and_accepted_updates_in_order() -> None:
    assert history.messages(recorded("v2/cancel_after_payment.json")) == [
        ("update", "cancel_order")
    ]
    assert history.messages(recorded("transient_retries.json")) == [
        ("signal", "attempt_failed"),
        ("signal", "attempt_failed"),
    ]
    assert history.messages(recorded("v2/happy_path.json")) == []


def test_event_times_finds_the_events_of_one_type() -> None:
    hung = recorded("v2/hung_attempt_timeout.json")

    [started] = history.event_times(hung, "WorkflowExecutionStarted")
    completed = history.event_times(hung, "WorkflowExecutionCompleted")

    assert started.tzinfo is not None
    assert len(completed) == 1 and completed[0] > started
    assert history.event_times(hung, "WorkflowTaskTimedOut") == []
