"""Tutorial 08's teaching material, against the real dev server, store and pytest.

- The exercise check (``check_review_wait``) is run against the worked solution, the
  scaffold, the shortcuts a learner reaches for (sleep the whole timeout then look, poll
  with short sleeps, no timeout at all) and other wrong answers (``tests/waits_answers.py``);
  each must get the right verdict, for the right reason.
- The continue-as-new workflow keeps its total across runs and starts each run afresh.
- The notebook's helpers: timers and histories, Schedules, visibility counts.
- The testkit's time-skipping fixture runs a learner's test of the 24 h review timeout.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.worker import Worker

from orderflow.config import Settings
from orderflow.lab import exercises
from orderflow.lab.verdicts import ENV_STOPPED
from orderflow.models import OrderState, ReconcileReport, ReconcileRequest, order_workflow_id
from orderflow.notebook import NotebookEnv
from orderflow.stack import Stack
from orderflow.store import Store
from orderflow.teaching import history, testkit, waits
from orderflow.teaching.tally import SpendTallyWorkflow, Tally
from orderflow.workflows.reconcile import RECONCILE_WORKFLOW
from tests import waits_answers
from tests.conftest import unique
from tests.test_teaching import notebook_module

pytestmark = pytest.mark.usefixtures("worker")

# --- the exercise: wait for the review, but not forever -----------------------------------

ANSWERS: dict[str, Any] = {
    "solution": "solution",
    "scaffold": "scaffold",
    "sleep-then-check": waits_answers.SleepsThenChecks,
    "asyncio-sleep-then-check": waits_answers.AsyncioSleepsThenChecks,
    "polling": waits_answers.PollsWithShortSleeps,
    "no-timeout": waits_answers.IgnoresTheTimeout,
    "timeout-uncaught": waits_answers.LetsTheTimeoutEscape,
    "temporal-timeout-error": waits_answers.CatchesTemporalsTimeoutError,
    "silence-is-approval": waits_answers.ApprovesWhenNobodyAnswers,
    "minutes-not-seconds": waits_answers.WaitsMinutesNotSeconds,
    "time-sleep": waits_answers.SleepsOnTheWallClock,
    "asyncio-wait-for": waits_answers.WaitsWithAsyncioWaitFor,
    "not-a-workflow": object,
}


def _workflow_of(answer: Any) -> Any:
    if answer == "solution":
        return notebook_module("solutions.ex08_review_wait").ReviewGate
    if answer == "scaffold":
        return notebook_module("ex08_review_wait").ReviewGate
    return answer


CONCURRENT_CHECKS = 4
"""Checks run side by side (each has its own worker and task queue), so the slow wrong
answers wait out their grace periods together - but not so many that a busy 2-core machine
is slower than the timers the check measures."""


@pytest.fixture(scope="module")
async def verdicts(client: Client, store: Store) -> dict[str, exercises.Verdict]:
    """Every answer checked once."""
    env = SimpleNamespace(client=client, store=store)
    slots = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def check(name: str) -> exercises.Verdict:
        async with slots:
            return await exercises.check_review_wait(env, _workflow_of(ANSWERS[name]))

    names = list(ANSWERS)
    found = await asyncio.gather(*(check(name) for name in names))
    return dict(zip(names, found, strict=True))


@pytest.mark.parametrize(
    ("answer", "ok", "expected"),
    [
        ("solution", True, "gave up when its 2 s timer fired (TimerFired)"),
        ("asyncio-wait-for", True, "its timer was cancelled (TimerCanceled)"),
        ("scaffold", False, "Not answered yet: `run` still raises NotImplementedError"),
        ("sleep-then-check", False, "only after its 5 s timer fired: it waited out the whole"),
        ("asyncio-sleep-then-check", False, "waited out the whole timeout"),
        ("polling", False, "it polls with short sleeps"),
        ("no-timeout", False, "`wait_condition` without `timeout=` waits forever"),
        ("timeout-uncaught", False, "raised the built-in TimeoutError, nothing caught it"),
        ("temporal-timeout-error", False, "`temporalio.exceptions.TimeoutError` is another"),
        ("silence-is-approval", False, "returned 'approved'; without a decision it must"),
        ("minutes-not-seconds", False, "its timer was 120 s, the request asked for 2 s"),
        ("time-sleep", False, "Cannot access time.sleep"),
        ("not-a-workflow", False, "Give the check your workflow class"),
    ],
)
async def test_check_review_wait_verdicts(
    verdicts: dict[str, exercises.Verdict], answer: str, ok: bool, expected: str
) -> None:
    verdict = verdicts[answer]

    assert verdict.ok is ok, str(verdict)
    assert expected in str(verdict), str(verdict)


async def test_the_right_answer_is_told_what_went_right(
    verdicts: dict[str, exercises.Verdict],
) -> None:
    text = str(verdicts["solution"])

    assert text.startswith("Correct - wait for the review, but not forever")
    assert "A gate approved as soon as it waited returned 'approved' at once" in text
    assert "A gate rejected as soon as it waited returned 'rejected' at once" in text


async def test_the_shortcuts_pass_the_other_scenarios_and_fail_only_theirs(
    verdicts: dict[str, exercises.Verdict],
) -> None:
    """A shortcut is named for what it does wrong, not failed wholesale."""
    sleeping = verdicts["sleep-then-check"].notes
    assert "gave up when its 2 s timer fired" in sleeping[2]  # silence: right by accident
    ignoring = verdicts["no-timeout"].notes
    assert "returned 'approved' at once" in ignoring[0]  # decisions: right


async def test_a_check_after_the_env_stopped_says_so_in_a_sentence(client: Client) -> None:
    solution = notebook_module("solutions.ex08_review_wait").ReviewGate
    stopped = SimpleNamespace(client=client, store=None, closed=True)

    verdict = await exercises.check_review_wait(stopped, solution)

    assert not verdict.ok
    assert str(verdict) == ENV_STOPPED
    assert "re-run the set-up cell" in str(verdict)


# --- continue-as-new -----------------------------------------------------------------------


async def test_the_tally_continues_as_new_and_keeps_every_signal(client: Client) -> None:
    task_queue = unique("tally")
    workflow_id = unique("spend")
    async with Worker(client, task_queue=task_queue, workflows=[SpendTallyWorkflow]):
        handle = await client.start_workflow(
            SpendTallyWorkflow.run,
            Tally(customer_id="grace", every=5),
            id=workflow_id,
            task_queue=task_queue,
        )
        for amount in range(1, 21):
            await handle.signal(SpendTallyWorkflow.add, Decimal(amount))
        await waits.eventually(
            lambda: waits.reading(client, workflow_id),
            lambda reading: reading.events == 20,
            what="20 signals counted",
        )
        await handle.signal(SpendTallyWorkflow.close)
        final = await handle.result()  # follows the chain of runs

        table = await waits.runs(client, workflow_id, expected=final.run)

    assert final.total == Decimal(210) and final.events == 20
    assert len(table) == final.run >= 2
    statuses = list(table["status"])
    assert statuses[:-1] == ["CONTINUED_AS_NEW"] * (final.run - 1)
    assert statuses[-1] == "COMPLETED"
    # Each run holds at most a few batches of signals, never the whole story.
    assert max(table["history events"]) < 20 * 4


# --- the notebook's helpers ------------------------------------------------------------------


@pytest.fixture
def env(settings: Settings, client: Client, store: Store, orders: Any, worker: Any) -> NotebookEnv:
    """The tutorials' env over the session's server, store and worker (not stopped here)."""
    return NotebookEnv(stack=Stack(settings, client, store, orders, None, worker, None))


async def test_a_review_timeout_is_a_timer_in_the_history(env: NotebookEnv, product: Any) -> None:
    sku = await product(stock=2, price="700.00")
    order_id = unique("review-timer")
    await waits.place(env, sku, order_id=order_id, customer_id="grace", review_timeout=1)
    waiting = await waits.until_state(env, order_id, OrderState.AWAITING_REVIEW)
    assert waiting.review is not None

    recorded = await waits.until_event(env.client, order_workflow_id(order_id), "TimerFired")
    final = await env.wait(order_id)

    timers = waits.events(recorded, since="TimerStarted")
    assert list(timers["event_type"])[:2] == ["TimerStarted", "TimerFired"]
    assert timers["details"].iloc[0] == "timer 1s"
    assert final.state == OrderState.CANCELLED
    assert final.cancel_reason == "no review decision within 0:00:01"
    quiet = waits.events(await history.fetch(env.client, order_workflow_id(order_id)), tasks=False)
    assert not set(quiet["event_type"]) & set(waits.WORKFLOW_TASK_EVENTS)
    assert (
        await waits.count(
            env.client,
            f"WorkflowId = '{order_workflow_id(order_id)}' AND OrderState = 'CANCELLED'",
            1,
        )
        == 1
    )


async def test_waiting_for_an_event_that_never_comes_says_what_it_waited_for(
    client: Client,
) -> None:
    with pytest.raises(TimeoutError, match="TimerFired in the history of no-such-workflow"):
        await waits.until_event(client, "no-such-workflow", "TimerFired", timeout=0.2)


async def test_schedule_helpers_create_trigger_pause_and_list(
    client: Client, settings: Settings
) -> None:
    schedule_id = unique("teaching-schedule")
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILE_WORKFLOW,
            ReconcileRequest(task_queue=settings.task_queue, lookback_seconds=60),
            id=schedule_id,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
    )
    handle = await waits.recreate_schedule(client, schedule_id, schedule)
    handle = await waits.recreate_schedule(client, schedule_id, schedule)  # replaces, no error
    try:
        assert waits.describe_spec((await handle.describe()).schedule) == {
            "starts": RECONCILE_WORKFLOW,
            "when": "every 1 day, 0:00:00",
            "overlap": "SKIP",
            "paused": False,
            "note": "",
        }
        await handle.trigger()
        started = await waits.last_started_run(handle)
        report = await client.get_workflow_handle(started, result_type=ReconcileReport).result()
        assert started.startswith(f"{schedule_id}-") and report.found >= 0

        await handle.pause(note="paused by a test")
        listed = await waits.schedules(client, expect={schedule_id: True}, ids=[schedule_id])
        assert listed.loc[schedule_id].to_dict() == {
            "starts": RECONCILE_WORKFLOW,
            "paused": True,
            "note": "paused by a test",
        }
    finally:
        await handle.delete()


# --- the time-skipping fixture ----------------------------------------------------------------


async def test_the_time_skipping_fixture_runs_a_learners_test_of_the_24_hour_timeout() -> None:
    began = time.monotonic()
    run = await testkit.run_tests(
        waits_answers.test_review_day_passes_in_seconds,
        waits_answers.test_review_expects_completion,
    )

    results = {result.name: result for result in run.results}
    assert results["test_review_day_passes_in_seconds"].passed, str(run) + run.output
    wrong = results["test_review_expects_completion"]
    assert not wrong.passed and "AssertionError" in wrong.message
    assert time.monotonic() - began < 60, "a day of waiting took real time"


def test_the_time_skipping_server_is_the_installed_binary() -> None:
    assert testkit.time_skipping_server().endswith("temporal-test-server")
    assert "start_time_skipping(" in testkit.fixture_source("time_skipping_env")
