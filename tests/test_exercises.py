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
