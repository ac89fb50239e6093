"""The ``check()`` functions of the exercises in tutorials 06 and 07.

Each check runs the learner's answer for real - replays on the ``Replayer``, orders on the
dev server with the real activities and store, tests under pytest - and returns a
:class:`~orderflow.exercises.Verdict` (as in tutorials 01-03) that says in plain words
what is right and what is not. A broken answer (an exception, a hang, a test that does
not collect) becomes a verdict, never a traceback. Worked solutions are in
``notebooks/solutions/``; ``tests/test_teaching.py`` runs every check against them and
against wrong answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from temporalio.client import Client, WorkflowHistory

from orderflow import client as orders
from orderflow.exercises import Verdict
from orderflow.models import OrderRequest, OrderState, new_order_id
from orderflow.store import Store
from orderflow.teaching import deployment, history, testkit
from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH

ORDER_TIMEOUT = 15.0
"""Seconds the exercise's new order may take before the check gives up on it."""


class HasClientAndStore(Protocol):
    """The notebook env (``orderflow.notebook.NotebookEnv``) or anything with the same two."""

    client: Client
    store: Store


# --- 06: make a change safely with a patch --------------------------------------------

COOLING_OFF_EXERCISE = "add the cooling-off timer without breaking running orders"


async def check_cooling_off(
    env: HasClientAndStore, workflow_class: type, histories: Sequence[WorkflowHistory]
) -> Verdict:
    """Exercise 06: ``workflow_class`` waits ``COOLING_OFF`` between reserving and charging.

    Right means: every recorded history still replays on it (running orders survive the
    deployment), and a new order runs the timer, behind a ``workflow.patched`` marker
    named ``COOLING_OFF_PATCH``, and completes.
    """
    if not histories:
        raise ValueError("give the check at least one recorded history to replay")
    notes: list[str] = []
    ok = True
    try:
        outcomes = await history.replay(workflow_class, histories, client=env.client)
    except Exception as error:  # e.g. not a workflow class, or it fails to load
        return Verdict(COOLING_OFF_EXERCISE, False, [f"The workflow could not be loaded: {error}"])
    broken = [outcome for outcome in outcomes if not outcome.ok]
    if broken:
        ok = False
        notes.append(
            f"{len(broken)} of {len(outcomes)} recorded orders no longer replay, e.g. "
            f"{broken[0].workflow_id}: {broken[0].error_type}. Orders running during the "
            "deployment would be stuck. Put the new code behind "
            f"`workflow.patched({COOLING_OFF_PATCH!r})`."
        )
    else:
        notes.append(f"All {len(outcomes)} recorded orders still replay on your version.")
    order_ok, order_notes = await _run_new_order(env, workflow_class)
    return Verdict(COOLING_OFF_EXERCISE, ok and order_ok, notes + order_notes)


async def _run_new_order(env: HasClientAndStore, workflow_class: type) -> tuple[bool, list[str]]:
    """Run one order on the learner's version (own task queue); judge its history."""
    sku = "exercise-06"
    await env.store.put_product(sku, "Exercise 06 product", Decimal("5.00"), 10)
    request = OrderRequest.model_validate(
        {
            "order_id": f"ex06-{new_order_id()}",
            "customer_id": "exercise",
            "items": [{"sku": sku, "quantity": 1}],
        }
    )
    task_queue = f"teaching-ex06-{new_order_id()}"
    async with deployment.teaching_worker(
        env.client, env.store, workflow_class, task_queue=task_queue
    ):
        request, _ = await orders.start_order(
            env.client, request, store=env.store, task_queue=task_queue
        )
        order_id, workflow_id = request.order_id or "", request.workflow_id
        finished = asyncio.ensure_future(orders.wait_for_order(env.client, order_id))
        stuck = asyncio.ensure_future(
            history.wait_for_task_failure(env.client, workflow_id, timeout=ORDER_TIMEOUT)
        )
        await asyncio.wait({finished, stuck}, timeout=ORDER_TIMEOUT, return_when="FIRST_COMPLETED")
        for waiting in (finished, stuck):
            waiting.cancel()
        if not finished.done() or finished.cancelled():
            # A failing workflow task would retry forever: stop the order, say why.
            await env.client.get_workflow_handle(workflow_id).terminate("exercise check")
            failures = history.workflow_task_failures(await history.fetch(env.client, workflow_id))
            if failures:
                return False, [
                    f"A new order got stuck: its workflow task failed with {failures[0]}"
                ]
            return False, [f"A new order did not finish in {ORDER_TIMEOUT:g} s."]
        final = finished.result()
        recorded = await history.fetch(env.client, workflow_id)
    return _judge_new_order(final.state, recorded)


def _judge_new_order(state: OrderState, recorded: WorkflowHistory) -> tuple[bool, list[str]]:
    commands = history.commands(recorded)
    timer = f"start timer {COOLING_OFF.total_seconds():g} s"
    reserve = "schedule activity reserve_inventory"
    charge = "schedule activity charge_payment"
    if state != OrderState.COMPLETED:
        return False, [f"A new order ended {state.value}, not COMPLETED."]
    between = commands[commands.index(reserve) + 1 : commands.index(charge)]
    if timer not in between:
        return False, [
            "A new order completed but never waited between reserving and charging: "
            f"`await workflow.sleep(COOLING_OFF)` (a {COOLING_OFF.total_seconds():g} s "
            "durable timer) belongs after `_reserve_inventory()`."
        ]
    if COOLING_OFF_PATCH not in history.patch_ids(recorded):
        return False, [
            "A new order waited, but its history has no patch marker "
            f"{COOLING_OFF_PATCH!r}: decide old-or-new with "
            f"`workflow.patched({COOLING_OFF_PATCH!r})`, the only test that is the same on "
            "every replay."
        ]
    return True, [
        "A new order recorded the patch marker, waited "
        f"{COOLING_OFF.total_seconds():g} s after reserving, then charged and completed."
    ]


# --- 07: write the test that catches the bug ------------------------------------------

DECLINED_CARD_EXERCISE = "a test that catches 'a declined card keeps the stock'"


async def check_declined_card_test(test: Callable[..., Any]) -> Verdict:
    """Exercise 07: ``test`` passes on the correct workflow and fails on the broken one.

    The test runs under pytest in a subprocess, once with the project's ``OrderWorkflow``
    and once with :class:`~orderflow.teaching.variants.LeakyStockOrderWorkflow` behind the
    ``orders`` fixture.
    """
    try:
        run = await testkit.run_tests(test, workflows=("correct", "broken"))
    except (TypeError, OSError) as error:  # not a function, no source to copy, ...
        return Verdict(DECLINED_CARD_EXERCISE, False, [str(error)])
    by_workflow = {result.param: result for result in run.results}
    correct, broken = by_workflow.get("correct"), by_workflow.get("broken")
    if correct is None or broken is None:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "pytest did not run your test against both workflows. Name it `test_...`, "
                "make it take the `orders` fixture, and check its output:",
                run.summary_line(),
            ],
        )
    if not correct.passed:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "Your test fails on the correct workflow, so it would fail the build for no "
                f"bug: {correct.message}",
            ],
        )
    if broken.passed:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "Your test passes on the correct workflow.",
                "It also passes on the broken one, which keeps the stock after a declined "
                "card: it does not catch the bug. What should the stock be afterwards?",
            ],
        )
    return Verdict(
        DECLINED_CARD_EXERCISE,
        True,
        [
            "Your test passes on the correct workflow.",
            f"It fails on the broken one: {broken.message}",
        ],
    )
