"""The checks of tutorials 01-03 against the worked solutions (right), the shortcuts a
learner might try, and other wrong answers (tests/exercise_answers.py); and every check
run after the notebook's env was stopped answers with one sentence, not a traceback.

A learner's answer reaches a check as their edited module; a wrong answer here is the
worked solution's module with one class swapped for a wrong one, which is what the check
sees when a learner makes that mistake.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orderflow.lab import exercises
from orderflow.lab.verdicts import ENV_STOPPED
from orderflow.notebook import NotebookEnv, start
from orderflow.stack import Stack

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
if str(NOTEBOOKS) not in sys.path:  # as in the kernel, whose cwd is notebooks/
    sys.path.insert(0, str(NOTEBOOKS))

from tests import exercise_answers as wrong  # noqa: E402  (needs notebooks/ on the path)

pytestmark = pytest.mark.usefixtures("worker")


def solution(name: str) -> ModuleType:
    return exercises.load_solution(name)


def scaffold(name: str) -> ModuleType:
    return exercises.load(name)


def swapped(name: str, **classes: Any) -> ModuleType:
    """The worked solution's module with some of its names replaced."""
    module = ModuleType(f"answer_{name}")
    module.__dict__.update(vars(solution(name)))
    module.__dict__.update(classes)
    return module


@pytest.fixture
def env(settings, client, store, orders, worker) -> NotebookEnv:
    """The tutorials' env over the session's server, store and worker (not stopped here)."""
    return NotebookEnv(stack=Stack(settings, client, store, orders, None, worker, None))


@pytest.fixture
def stopped_env(env) -> NotebookEnv:
    """The same env as a check sees it after the notebook's last cell stopped it."""
    return NotebookEnv(stack=env.stack, closed=True)


# --- 01: your first workflow -----------------------------------------------------------


async def test_first_workflow_solution_passes(env):
    verdict = await exercises.check_first_workflow(env, solution("ex01_first_workflow"))

    assert verdict.ok, str(verdict)
    assert "Each of the 2 lines was priced by its own activity" in str(verdict)


async def test_first_workflow_scaffold_lists_what_is_missing(env):
    verdict = await exercises.check_first_workflow(env, scaffold("ex01_first_workflow"))

    assert not verdict.ok
    text = str(verdict)
    assert "TODO 1: `price_line` is not an activity yet" in text
    assert "TODO 2: `QuoteWorkflow` is not a workflow yet" in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (wrong.PricesInTheWorkflow, "holds 0 `price_line` activities for 2 lines"),
        (wrong.CallsTheActivityFunction, "Calling the function directly runs it inside"),
        (wrong.NoQuery, "TODO 4: `QuoteWorkflow` has no Query named `priced`"),
        (wrong.QueryForgetsTheLines, "the `priced` Query answered []"),
        (wrong.RaisesInRun, "The workflow task failed: WORKFLOW_WORKER_UNHANDLED_FAILURE"),
    ],
    ids=["prices-in-workflow", "direct-call", "no-query", "query-forgets", "raises"],
)
async def test_first_workflow_wrong_answers_are_told_why(env, answer, expected):
    verdict = await exercises.check_first_workflow(
        env, swapped("ex01_first_workflow", QuoteWorkflow=answer)
    )

    assert not verdict.ok, str(verdict)
    assert expected in str(verdict)


async def test_first_workflow_needs_the_module(env):
    verdict = await exercises.check_first_workflow(env, "ex01_first_workflow")

    assert not verdict.ok and "not a str" in str(verdict)


# --- 02: timeouts and a retry policy -----------------------------------------------------


async def test_payment_policy_solution_passes(env):
    verdict = await exercises.check_payment_policy(env, solution("ex02_payment_policy"))

    assert verdict.ok, str(verdict)
    text = str(verdict)
    assert "attempted exactly 3 times" in text
    assert "A declined card was attempted once" in text
    assert "given up by the heartbeat timeout" in text


async def test_payment_policy_scaffold_without_timeouts_is_told_why(env):
    verdict = await exercises.check_payment_policy(env, scaffold("ex02_payment_policy"))

    assert not verdict.ok
    assert "The workflow task failed" in str(verdict)
    assert "start_to_close_timeout" in str(verdict)


async def test_payment_policy_maximum_attempts_alone_is_not_enough(env):
    """The shortcut: ``RetryPolicy(maximum_attempts=3)`` with a start-to-close timeout."""
    verdict = await exercises.check_payment_policy(
        env, swapped("ex02_payment_policy", PaymentWorkflow=wrong.MaximumAttemptsOnly)
    )

    assert not verdict.ok
    text = str(verdict)
    assert "A declined card was attempted 3 times" in text
    assert "No heartbeat_timeout" in text
    assert "given up only by: activity StartToClose timeout" in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (wrong.OneAttemptTooMany, "attempted 4 times: `maximum_attempts` counts the first"),
        (wrong.DeclineMisspelled, "A declined card was attempted 3 times"),
        (wrong.ShortAttemptsNoHeartbeat, "No heartbeat_timeout"),
    ],
    ids=["four-attempts", "misspelled-decline", "no-heartbeat"],
)
async def test_payment_policy_wrong_answers_are_told_why(env, answer, expected):
    verdict = await exercises.check_payment_policy(
        env, swapped("ex02_payment_policy", PaymentWorkflow=answer)
    )

    assert not verdict.ok, str(verdict)
    assert expected in str(verdict)


# --- 03 (a): the cart --------------------------------------------------------------------


async def test_cart_solution_passes(env):
    verdict = await exercises.check_cart(env, solution("ex03_cart"))

    assert verdict.ok, str(verdict)
    assert "refused by the validator: the cart is empty" in str(verdict)


async def test_cart_scaffold_lists_the_three_handlers(env):
    verdict = await exercises.check_cart(env, scaffold("ex03_cart"))

    assert not verdict.ok
    text = str(verdict)
    for todo in (
        "TODO 1: no Query named `items`",
        "TODO 2: no Signal named `add_item`",
        "TODO 3: no Update named `checkout`",
    ):
        assert todo in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (wrong.CheckoutBySignal, "`checkout` is a Signal; the task asks for a Update"),
        (wrong.RefusesInTheHandler, "only after the Update was accepted into the history"),
        (wrong.EmptyCartChecksOut, "Checking out an empty cart answered 0"),
        (wrong.SignalOverwrites, "the `items` Query answered {'ceramic-mug': 1"),
        (wrong.QueryRaises, "Temporal refused a call the check made to your workflow"),
    ],
    ids=["checkout-signal", "in-handler", "no-refusal", "signal-overwrites", "query-raises"],
)
async def test_cart_wrong_answers_are_told_why(env, answer, expected):
    verdict = await exercises.check_cart(env, swapped("ex03_cart", CartWorkflow=answer))

    assert not verdict.ok, str(verdict)
    assert expected in str(verdict)


# --- 03 (b): cancel while retrying --------------------------------------------------------


async def test_cancel_while_retrying_solution_passes(env):
    verdict = await exercises.check_cancel_while_retrying(
        env, solution("ex03_cancel_while_retrying").cancel_while_retrying
    )

    assert verdict.ok, str(verdict)
    assert str(verdict).count("cancelled with the Update after") == 2


async def test_cancel_after_a_fixed_sleep_is_too_early_for_one_order(env):
    """The shortcut: ``sleep(2)`` then cancel with the Update."""

    async def sleep_then_cancel(env, order_id):
        await asyncio.sleep(2)
        return await env.cancel(order_id, "two seconds felt right")

    verdict = await exercises.check_cancel_while_retrying(env, sleep_then_cancel)

    assert not verdict.ok
    assert "Order 'later' was cancelled before its payment had failed even once" in str(verdict)


async def test_cancel_with_the_signal_is_not_the_update(env):
    """The shortcut: the right moment, but the Signal although the task says Update."""
    polling = solution("ex03_cancel_while_retrying")

    async def cancel_by_signal(env, order_id):
        original = env.cancel

        async def signal_instead(order_id, reason=""):
            return await original(order_id, reason, signal=True)

        env_with_signal = _EnvWithCancel(env, signal_instead)
        return await polling.cancel_while_retrying(env_with_signal, order_id)

    verdict = await exercises.check_cancel_while_retrying(env, cancel_by_signal)

    assert not verdict.ok
    assert "cancelled with the `cancel` Signal; the task asks for the `cancel_order` Update" in (
        str(verdict)
    )


async def test_cancel_at_once_or_unanswered_is_told_why(env):
    async def cancel_at_once(env, order_id):
        return await env.cancel(order_id, "impatient")

    async def unanswered(env, order_id):
        raise NotImplementedError

    verdict = await exercises.check_cancel_while_retrying(env, cancel_at_once)
    assert not verdict.ok and "before its payment had failed even once" in str(verdict)
    verdict = await exercises.check_cancel_while_retrying(env, unanswered)
    assert not verdict.ok and "Not answered yet" in str(verdict)


class _EnvWithCancel:
    """The env with another ``cancel``: how a learner's answer would call the Signal."""

    def __init__(self, env: NotebookEnv, cancel: Any) -> None:
        self._env = env
        self.cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


# --- after "Run All": the env is stopped ----------------------------------------------------


async def test_a_check_after_the_env_stopped_says_so_in_one_sentence(settings, tmp_path):
    """A real env, started and stopped as the notebook's first and last cells do."""
    own = {"data_dir": tmp_path, "task_queue": "stopped-env", "reconcile_every": 0}
    real = await start(settings.model_copy(update=own))
    await real.stop()

    verdict = await exercises.check_first_workflow(real, solution("ex01_first_workflow"))

    assert not verdict.ok
    assert str(verdict) == ENV_STOPPED
    assert "\n" not in str(verdict) and "re-run the set-up cell" in str(verdict)


@pytest.mark.parametrize(
    "check",
    ["first_workflow", "payment_policy", "cart", "cancel_while_retrying", "cooling_off"],
)
async def test_every_check_with_an_env_says_it_is_stopped(stopped_env, check):
    answers: dict[str, tuple[Any, ...]] = {
        "first_workflow": (solution("ex01_first_workflow"),),
        "payment_policy": (solution("ex02_payment_policy"),),
        "cart": (solution("ex03_cart"),),
        "cancel_while_retrying": (solution("ex03_cancel_while_retrying").cancel_while_retrying,),
        "cooling_off": (solution("ex06_cooling_off").CoolingOffOrderWorkflow, ["a history"]),
    }

    verdict = await getattr(exercises, f"check_{check}")(stopped_env, *answers[check])

    assert str(verdict) == ENV_STOPPED


# --- 09: rescue the orders stuck on the settlement bug -----------------------------------


async def test_rescue_solution_passes(env):
    verdict = await exercises.check_rescue_stuck_orders(
        env, solution("ex09_rescue_stuck_orders").rescue
    )
    assert verdict.ok, str(verdict)
    assert "charge was kept, not repeated" in str(verdict)


async def test_rescue_by_reset_to_the_start_passes_and_says_the_charge_ran_again(env):
    from orderflow import ops
    from orderflow.models import order_workflow_id

    async def reset_from_the_start(env, order_ids):
        for order_id in order_ids:
            await ops.reset_workflow(
                env.client, order_workflow_id(order_id), to=ops.ResetTo.FIRST_WORKFLOW_TASK,
                reason="redo",
            )  # fmt: skip

    verdict = await exercises.check_rescue_stuck_orders(env, reset_from_the_start)
    assert verdict.ok, str(verdict)
    assert "found the first charge" in str(verdict)


async def test_rescue_that_only_waits_for_the_fix_is_wrong(env):
    async def the_fix_is_deployed_so_wait(env, order_ids):
        for order_id in order_ids:
            await env.status(order_id)  # the fixed build answers... and the timer stays

    verdict = await exercises.check_rescue_stuck_orders(env, the_fix_is_deployed_so_wait)
    assert not verdict.ok
    assert "still waiting on its two-hour settlement timer" in str(verdict)


async def test_rescue_by_terminating_and_starting_again_charges_twice(env):
    """The shortcut: throw the stuck run away and start the order again under its id."""
    from orderflow.models import WORKFLOW_TYPE, OrderRequest, order_workflow_id

    async def terminate_and_restart(env, order_ids):
        for order_id in order_ids:
            handle = env.client.get_workflow_handle(order_workflow_id(order_id))
            description = await handle.describe()
            request = (await handle.fetch_history()).events[0]
            await handle.terminate(reason="start over")
            payload = request.workflow_execution_started_event_attributes.input.payloads[0]
            body = OrderRequest.model_validate_json(payload.data)
            await env.client.start_workflow(
                WORKFLOW_TYPE, body, id=handle.id, task_queue=description.task_queue
            )

    verdict = await exercises.check_rescue_stuck_orders(env, terminate_and_restart)
    assert not verdict.ok
    assert "in a new execution" in str(verdict) and "charged 2 time(s)" in str(verdict)


async def test_rescue_unanswered_and_after_the_env_stopped(env, settings, client, store, orders):
    async def unanswered(env, order_ids):
        raise NotImplementedError

    verdict = await exercises.check_rescue_stuck_orders(env, unanswered)
    assert not verdict.ok and "Not answered yet" in str(verdict)

    stopped = NotebookEnv(stack=Stack(settings, client, store, orders, None, None, None))
    stopped.closed = True
    verdict = await exercises.check_rescue_stuck_orders(stopped, unanswered)
    assert not verdict.ok
    assert str(verdict) == ENV_STOPPED
