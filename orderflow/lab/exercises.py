"""Every tutorial's ``check()``: run the learner's answer against the real server.

Each ``check_*`` takes the notebook env and the learner's answer (a function, a value, a
workflow class or a test),
runs it on a fresh product with fresh order ids, looks at what really happened (workflow
status, activity attempts, the payments ledger, stock) and returns a :class:`Verdict`
that says in plain words what is right and what is not. A broken answer (an exception,
a wrong type, a hang) becomes a verdict too, never a traceback. Worked solutions are in
``notebooks/solutions/``; the test suite runs the checks against them and against
wrong answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHistory

from orderflow.models import (
    AttemptOutcome,
    OrderRequest,
    OrderState,
    OrderStatus,
    PaymentKind,
    RetrySettings,
    new_order_id,
    order_workflow_id,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching import deployment, history, testkit
from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH

if TYPE_CHECKING:
    from orderflow.lab.env import NotebookEnv

FAILED_OUTCOMES = (AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)

ANSWER_TIMEOUT = 30.0
"""Seconds an answer (and the order it drives) may take before the check gives up."""


@dataclass
class Verdict:
    """The outcome of a check: right or not, and why, in sentences."""

    exercise: str
    ok: bool
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{'Correct' if self.ok else 'Not yet'} - {self.exercise}"
        return "\n".join([head, *(f"  - {note}" for note in self.notes)])

    def __repr__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.ok


async def _fresh_product(env: NotebookEnv, exercise: str, stock: int, price: str) -> str:
    """The exercise's own product, its stock reset, so every run starts the same."""
    sku = f"exercise-{exercise}"
    await env.restock(sku, stock, price, name=f"Exercise {exercise} product")
    return sku


async def _call(answer: Callable[..., Any], *args: Any) -> Any:
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, ANSWER_TIMEOUT)
    return result


# --- 01: place an order and wait for it ----------------------------------------------


async def check_place_and_wait(
    env: NotebookEnv, place_and_wait: Callable[[NotebookEnv, str, int], Awaitable[OrderStatus]]
) -> Verdict:
    """Exercise 01: ``place_and_wait(env, sku, quantity)`` places an order and returns its
    final status."""
    exercise = "place an order and return its final status"
    sku = await _fresh_product(env, "01", stock=10, price="3.50")
    quantity = 3
    try:
        result = await _call(place_and_wait, env, sku, quantity)
    except NotImplementedError:
        return Verdict(exercise, False, ["Not answered yet: replace `raise NotImplementedError`."])
    except TimeoutError:
        return Verdict(exercise, False, [f"Your function did not return in {ANSWER_TIMEOUT:g} s."])
    except Exception as error:
        return Verdict(exercise, False, [f"Your function raised {type(error).__name__}: {error}"])
    notes: list[str] = []
    if result is None:
        return Verdict(exercise, False, ["Your function returned None: `return` the status."])
    if not isinstance(result, OrderStatus):
        return Verdict(
            exercise,
            False,
            [f"Your function returned a {type(result).__name__}, not the OrderStatus."],
        )
    left = await env.store.stock(sku)
    ok = True
    if result.state != OrderState.COMPLETED:
        ok = False
        notes.append(
            f"The status you returned says {result.state.value}: it was read before the order "
            "finished. Wait for the result (`await env.wait(order_id)`), don't just query."
        )
    else:
        notes.append("The returned status is final: COMPLETED.")
    if left != 10 - quantity:
        ok = False
        notes.append(f"Stock went from 10 to {left}; ordering {quantity} should leave 7.")
    else:
        notes.append(f"Stock went from 10 to {left}: exactly {quantity} were reserved.")
    expected_total = Decimal("3.50") * quantity
    if result.total is not None and result.total != expected_total:
        ok = False
        notes.append(f"Total is {result.total}, expected {expected_total}.")
    return Verdict(exercise, ok, notes)


# --- 02: a payment retry policy that gives up after 3 attempts -----------------------


async def check_retry_policy(env: NotebookEnv, retry: Mapping[str, Any] | None) -> Verdict:
    """Exercise 02: a retry policy under which a payment that keeps failing is tried
    exactly 3 times, after which the order fails and the stock is released."""
    exercise = "give up on payment after 3 attempts"
    if retry is None:
        return Verdict(exercise, False, ["Not answered yet: set `my_retry` to a dict."])
    try:
        settings = RetrySettings.model_validate(dict(retry))
    except (ValidationError, TypeError, ValueError) as error:
        return Verdict(exercise, False, [f"That is not a valid retry policy: {error}"])
    budget = _retry_budget(settings, attempts=min(settings.maximum_attempts or 20, 20))
    if budget > ANSWER_TIMEOUT:
        return Verdict(
            exercise,
            False,
            [
                f"With these settings the retries could take {budget:.0f} s; keep the "
                "intervals short (about 1 s) so the example finishes quickly."
            ],
        )
    sku = await _fresh_product(env, "02", stock=5, price="20.00")
    order_id = await env.place_order(
        sku,
        1,
        order_id=await env.new_order_id(f"{sku}-order"),
        faults={"charge_payment": {"fail_first_n": 10}},
        retry=settings,
    )
    try:
        final = await env.wait(order_id, timeout=ANSWER_TIMEOUT)
    except TimeoutError:
        return Verdict(exercise, False, ["The order did not finish in time: are retries endless?"])
    charges = [
        a
        for a in await env.store.attempts(order_workflow_id(order_id))
        if a.step == "charge_payment"
    ]
    notes = [f"The payment was attempted {len(charges)} time(s)."]
    ok = len(charges) == 3 and final.state == OrderState.FAILED
    if len(charges) < 3:
        notes.append("That gives up too early: the task asks for 3 attempts in total.")
    elif len(charges) > 3:
        notes.append("That is too many: `maximum_attempts` counts the first attempt too.")
    if final.state == OrderState.FAILED:
        restored = await env.store.stock(sku) == 5
        notes.append(
            "The order FAILED and its stock was "
            + ("released (compensation ran)." if restored else "NOT released.")
        )
        ok = ok and restored
    else:
        notes.append(f"The order ended {final.state.value}, expected FAILED.")
    return Verdict(exercise, ok, notes)


def _retry_budget(settings: RetrySettings, attempts: int) -> float:
    """Worst-case seconds spent waiting between ``attempts`` attempts."""
    waits = (
        min(settings.initial_interval * settings.backoff_coefficient**n, settings.maximum_interval)
        for n in range(max(attempts - 1, 0))
    )
    # At least 1 s each: a server with default settings fires timers up to ~1 s late.
    return sum(max(wait, 1.0) for wait in waits)


# --- 03: cancel while the payment is being retried ----------------------------------


async def check_cancel_while_retrying(
    env: NotebookEnv, cancel_while_retrying: Callable[[NotebookEnv, str], Awaitable[Any]]
) -> Verdict:
    """Exercise 03: ``cancel_while_retrying(env, order_id)`` waits until the status Query
    shows the payment step ``retrying`` (the gateway is down), then cancels with the Update.
    The order must end CANCELLED, with nothing charged and the stock back."""
    exercise = "cancel while the payment is being retried"
    sku = await _fresh_product(env, "03", stock=4, price="15.00")
    order_id = await env.place_order(
        sku,
        1,
        order_id=await env.new_order_id(f"{sku}-order"),
        faults={"charge_payment": {"fail_first_n": 10}},
        retry={"initial_interval": 1.0, "backoff_coefficient": 1.0, "maximum_attempts": 6},
    )
    try:
        await _call(cancel_while_retrying, env, order_id)
    except NotImplementedError:
        await env.cancel(order_id, "exercise cleanup", signal=True)
        return Verdict(exercise, False, ["Not answered yet: replace `raise NotImplementedError`."])
    except Exception as error:
        await env.cancel(order_id, "exercise cleanup", signal=True)
        return Verdict(exercise, False, [f"Your function raised {type(error).__name__}: {error}"])
    final = await env.wait(order_id, timeout=ANSWER_TIMEOUT)
    workflow_id = order_workflow_id(order_id)
    charges = [a for a in await env.store.attempts(workflow_id) if a.step == "charge_payment"]
    failed = [a for a in charges if a.outcome in FAILED_OUTCOMES]
    notes: list[str] = []
    ok = True
    if final.state != OrderState.CANCELLED:
        ok = False
        notes.append(
            f"The order ended {final.state.value}: your cancel never took effect "
            "(after 6 failed payment attempts the order fails on its own)."
        )
    elif not failed:
        ok = False
        notes.append(
            "You cancelled before the payment was even tried: wait until the status "
            "Query shows the charge_payment step as 'retrying'."
        )
    else:
        notes.append(
            f"You cancelled after {len(failed)} failed payment attempt(s), while Temporal "
            "was retrying: the order is CANCELLED."
        )
    net = await env.store.net_charged(workflow_id)
    if net != 0:
        ok = False
        notes.append(f"The customer was charged {net}: a cancelled order must cost nothing.")
    elif final.state == OrderState.CANCELLED:
        notes.append("Nothing was charged (the ledger nets to 0).")
    if await env.store.stock(sku) != 4:
        ok = False
        notes.append("The reserved stock was not put back.")
    elif final.state == OrderState.CANCELLED:
        notes.append("The reserved stock was released by the compensation.")
    return Verdict(exercise, ok, notes)


# --- 06 and 07 (workflow code and tests) -------------------------------------------------

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
        door = Orders(env.client, env.store, task_queue=task_queue)
        placed = await door.place(request)
        order_id, workflow_id = placed.order_id, placed.workflow_id
        finished = asyncio.ensure_future(door.wait(order_id))
        stuck = asyncio.ensure_future(
            history.wait_for_task_failure(env.client, workflow_id, timeout=ORDER_TIMEOUT)
        )
        await asyncio.wait({finished, stuck}, timeout=ORDER_TIMEOUT, return_when="FIRST_COMPLETED")
        for waiting in (finished, stuck):
            waiting.cancel()
        if not finished.done() or finished.cancelled():
            # A failing workflow task would retry forever: stop the order, say why.
            await env.client.get_workflow_handle(workflow_id).terminate(reason="exercise check")
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


# --- 09: rescue the orders stuck on a workflow bug ---------------------------------------

RESCUE_EXERCISE = "rescue the orders stuck on the settlement bug"
RESCUE_ORDERS = 2
RESCUE_PRICE = Decimal("60.00")
RESCUE_STOCK = 10
RESCUE_WAIT = 10.0
"""Seconds a rescued order may take to finish (its fixed settlement wait is 2 s)."""
STOPPED_ENV = (
    "The environment is stopped (`await env.stop()` ran): run the set-up cell at the top "
    "again, then this check."
)


async def check_rescue_stuck_orders(
    env: NotebookEnv, rescue: Callable[[NotebookEnv, list[str]], Awaitable[Any]]
) -> Verdict:
    """Exercise 09: ``rescue(env, order_ids)`` gets orders stuck on the two-hour
    settlement timer (the fix already deployed) to COMPLETED: the same orders (same
    execution chain), each charged once, stock taken once.

    The check builds the incident on a task queue of its own: the buggy build, orders
    charged and stuck, then the fixed build rolled out. Then it calls the answer.
    """
    if env.closed:
        return Verdict(RESCUE_EXERCISE, False, [STOPPED_ENV])
    from orderflow.teaching.deployment import Deployment
    from orderflow.teaching.incidents import (
        SettlementBugOrderWorkflow,
        SettlementFixedOrderWorkflow,
    )

    sku = await _fresh_product(env, "09", stock=RESCUE_STOCK, price=str(RESCUE_PRICE))
    stage = Deployment(env.client, env.store, task_queue=f"exercise-09-{new_order_id()}")
    try:
        await stage.roll_out(SettlementBugOrderWorkflow)
        order_ids = [
            await stage.place(sku, order_id=await env.new_order_id(f"stuck-{n}"))
            for n in range(1, RESCUE_ORDERS + 1)
        ]
        first_runs = {
            order_id: await _stuck_on_settlement(env.client, order_id) for order_id in order_ids
        }
        await stage.roll_out(SettlementFixedOrderWorkflow)
        try:
            await _call(rescue, env, list(order_ids))
        except NotImplementedError:
            return Verdict(
                RESCUE_EXERCISE, False, ["Not answered yet: replace `raise NotImplementedError`."]
            )
        except Exception as error:
            return Verdict(
                RESCUE_EXERCISE, False, [f"Your function raised {type(error).__name__}: {error}"]
            )
        judged = await asyncio.gather(
            *(
                _judge_rescue(env, stage.orders, order_id, first_runs[order_id])
                for order_id in order_ids
            )
        )
        ok = all(order_ok for order_ok, _ in judged)
        notes = [note for _, note in judged]
        left = await env.store.stock(sku)
        if left != RESCUE_STOCK - RESCUE_ORDERS:
            ok = False
            notes.append(
                f"Stock went from {RESCUE_STOCK} to {left}; {RESCUE_ORDERS} orders of one item "
                f"should leave {RESCUE_STOCK - RESCUE_ORDERS}."
            )
        return Verdict(RESCUE_EXERCISE, ok, notes)
    finally:
        await _terminate_running(env.client, stage.task_queue)
        await stage.stop()


async def _stuck_on_settlement(client: Client, order_id: str, timeout: float = 20.0) -> str:
    """Wait until the order sits on its settlement timer; return its (first) run id."""
    from temporalio.api.enums.v1 import EventType

    workflow_id = order_workflow_id(order_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        recorded = await history.fetch(client, workflow_id)
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in recorded.events):
            return (await client.get_workflow_handle(workflow_id).describe()).run_id
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"order {order_id} did not reach the settlement wait")
        await asyncio.sleep(0.1)


async def _judge_rescue(
    env: NotebookEnv, orders: Orders, order_id: str, first_run: str
) -> tuple[bool, str]:
    workflow_id = order_workflow_id(order_id)
    try:
        final = await orders.wait(order_id, timeout=RESCUE_WAIT)
    except TimeoutError:
        return False, (
            f"{order_id} is still waiting on its two-hour settlement timer. Deploying the fix "
            "does not change a timer already in the history; reset the order to the workflow "
            "task that started it (`temporal workflow reset --type LastWorkflowTask`)."
        )
    description = await env.client.get_workflow_handle(workflow_id).describe()
    chain = description.raw_description.workflow_execution_info.first_run_id
    charges = [
        entry
        for entry in await env.store.payment_ledger(workflow_id)
        if entry.kind == PaymentKind.CHARGE
    ]
    if chain != first_run:
        return False, (
            f"{order_id} ended {final.state.value} in a new execution, not in the stuck one: "
            f"it was charged {len(charges)} time(s). A new start is a new order to Temporal, "
            "with new idempotency keys; a reset continues the same execution chain."
        )
    if final.state != OrderState.COMPLETED:
        return False, (
            f"{order_id} ended {final.state.value}: the customer paid for an order that is now "
            "given up. Rescue means finishing it on the fixed code."
        )
    if len(charges) != 1 or await env.store.net_charged(workflow_id) != RESCUE_PRICE:
        return False, f"{order_id} was charged {len(charges)} time(s); it must be exactly once."
    reran = len([a for a in await env.store.attempts(workflow_id) if a.step == "charge_payment"])
    how = (
        "its charge ran again and found the first charge (same execution, same key)"
        if reran > 1
        else "its charge was kept, not repeated"
    )
    return True, f"{order_id} COMPLETED in the same execution, charged once: {how}."


async def _terminate_running(client: Client, task_queue: str) -> None:
    """Leave no exercise order behind waiting on a two-hour timer."""
    from temporalio.service import RPCError

    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(execution.id).terminate(reason="exercise check over")
