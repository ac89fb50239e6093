"""The exercise checks run against the worked solutions (right) and wrong answers (wrong)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from bench.drillkit import audit
from orderflow.lab import exercises
from orderflow.notebook import NotebookEnv
from orderflow.stack import Stack

pytestmark = pytest.mark.usefixtures("worker")

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def solution(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def env(settings, client, store, orders, worker) -> NotebookEnv:
    """The tutorials' env over the session's server, store and worker (not stopped here)."""
    return NotebookEnv(stack=Stack(settings, client, store, orders, None, worker, None))


async def test_place_and_wait_solution_passes(env):
    verdict = await exercises.check_place_and_wait(
        env, solution("ex01_place_and_wait").place_and_wait
    )
    assert verdict.ok, str(verdict)
    assert str(verdict).startswith("Correct")


async def test_place_and_wait_that_only_queries_is_told_why(env):
    async def query_instead_of_wait(env, sku, quantity):
        order_id = await env.place_order(sku, quantity, step_delay=0.5)
        return await env.status(order_id)

    verdict = await exercises.check_place_and_wait(env, query_instead_of_wait)

    assert not verdict.ok
    assert "read before the order finished" in str(verdict)


async def test_place_and_wait_unanswered_or_broken(env):
    async def unanswered(env, sku, quantity):
        raise NotImplementedError

    async def forgot_return(env, sku, quantity):
        await env.wait(await env.place_order(sku, quantity))

    assert "Not answered yet" in str(await exercises.check_place_and_wait(env, unanswered))
    verdict = await exercises.check_place_and_wait(env, forgot_return)
    assert not verdict.ok and "returned None" in str(verdict)


async def test_retry_policy_solution_passes(env):
    verdict = await exercises.check_retry_policy(env, solution("ex02_retry_policy").my_retry)
    assert verdict.ok, str(verdict)
    assert "attempted 3 time(s)" in str(verdict)


async def test_retry_policy_off_by_one_is_wrong(env):
    retry = {"initial_interval": 0.5, "backoff_coefficient": 1.0, "maximum_attempts": 4}
    verdict = await exercises.check_retry_policy(env, retry)
    assert not verdict.ok
    assert "attempted 4 time(s)" in str(verdict)
    assert "counts the first attempt too" in str(verdict)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, "Not answered yet"),
        ({"maximum_attempts": -1}, "not a valid retry policy"),
        ({"initial_interval": 30, "maximum_attempts": 3}, "must not be less than initial"),
        (
            {"initial_interval": 20, "maximum_interval": 60, "maximum_attempts": 3},
            "keep the intervals short",
        ),
    ],
)
async def test_retry_policy_refuses_bad_answers_without_running_an_order(
    env, store, answer, expected
):
    counts = await audit.counts(store)
    verdict = await exercises.check_retry_policy(env, answer)
    assert not verdict.ok and expected in str(verdict)
    assert await audit.counts(store) == counts


async def test_cancel_while_retrying_solution_passes(env):
    verdict = await exercises.check_cancel_while_retrying(
        env, solution("ex03_cancel_while_retrying").cancel_while_retrying
    )
    assert verdict.ok, str(verdict)


async def test_cancel_too_early_is_told_to_wait_for_retrying(env):
    async def cancel_at_once(env, order_id):
        await env.cancel(order_id, "impatient")

    verdict = await exercises.check_cancel_while_retrying(env, cancel_at_once)

    assert not verdict.ok
    assert "before the payment was even tried" in str(verdict)


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
    assert verdict.notes == [exercises.STOPPED_ENV] and verdict.notes[0].count(". ") == 0
