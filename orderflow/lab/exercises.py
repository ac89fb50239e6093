"""Every tutorial's ``check()``: run the learner's answer against the real server.

Each ``check_*`` takes the notebook env and the learner's answer (a module they edited, a
function, a workflow class or a test), runs it on fresh ids (and its own task queue for
workflow code), looks at what really happened - the workflow's result and history, the
activity attempts, the payments ledger, the stock - and returns a :class:`Verdict` that
says in plain words what is right and what is not. A broken answer (an exception, a
wrong type, a hang, a failing workflow task) becomes a verdict too, never a traceback,
and so does a check run after the env was stopped. Worked solutions are in
``notebooks/solutions/``; ``tests/test_exercises.py`` and ``tests/test_teaching.py`` run
every check against its solution, the known shortcuts and other wrong answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError as UpdateTimeout
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from orderflow.lab.answers import (
    Chosen,
    is_activity,
    load,
    load_solution,
    workflow_shape,
    yours_or_solution,
)
from orderflow.lab.verdicts import (
    ENV_STOPPED,
    Verdict,
    WorkerRefused,
    exercise_id,
    exercise_worker,
    finish,
    guarded,
    terminate_quietly,
)
from orderflow.models import (
    CANCEL_SIGNAL,
    CANCEL_UPDATE,
    AttemptOutcome,
    OrderRequest,
    OrderState,
    PaymentKind,
    ReviewDecision,
    ReviewRequest,
    StepName,
    new_order_id,
    order_workflow_id,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching import deployment, gateway, history, review_gate, testkit
from orderflow.teaching.variants import COOLING_OFF, COOLING_OFF_PATCH

if TYPE_CHECKING:
    from orderflow.lab.env import NotebookEnv

__all__ = [
    "ENV_STOPPED",
    "Chosen",
    "Verdict",
    "check_cancel_while_retrying",
    "check_cart",
    "check_cooling_off",
    "check_declined_card_test",
    "check_first_workflow",
    "check_payment_policy",
    "load",
    "load_solution",
    "module_for",
    "yours_or_solution",
]

FAILED_OUTCOMES = (AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)

ANSWER_TIMEOUT = 30.0
"""Seconds an answer (and the orders it drives) may take before the check gives up."""

RUN_TIMEOUT = 15.0
"""Seconds the learner's own workflow may take in a check before it is stopped."""


async def _call(answer: Callable[..., Any], *args: Any) -> Any:
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, ANSWER_TIMEOUT)
    return result


def _not_a_module(exercise: str, answer: Any) -> Verdict | None:
    if isinstance(answer, ModuleType):
        return None
    return Verdict(
        exercise,
        False,
        [f"Give the check your module (`exercises.load(...)`), not a {type(answer).__name__}."],
    )


def _stuck_note(stuck: str) -> str:
    return (
        f"The workflow task failed: {stuck}. Temporal retries a failing workflow task "
        "instead of failing the workflow, so the run would hang there until the code is "
        "fixed; the check stopped it."
    )


# --- 01: your first workflow and activity --------------------------------------------

FIRST_WORKFLOW_EXERCISE = "your first workflow and activity"
FIRST_WORKFLOW_LINES = (("ceramic-mug", 2), ("espresso-beans", 1))
"""The quote the check asks for (prices from the module's own ``PRICES_CENTS``)."""


def first_workflow_gaps(module: ModuleType) -> list[str]:
    """What exercise 01's module still lacks, without running it (empty: complete)."""
    gaps = []
    if not is_activity(getattr(module, "price_line", None)):
        gaps.append(
            "TODO 1: `price_line` is not an activity yet: decorate it with `@activity.defn`"
        )
    quote = getattr(module, "QuoteWorkflow", None)
    shape = workflow_shape(quote)
    if not shape.is_workflow:
        reason = f" ({shape.error})" if shape.error else ""
        gaps.append(
            "TODO 2: `QuoteWorkflow` is not a workflow yet: `@workflow.defn` on the class, "
            f"`@workflow.run` on `run`{reason}"
        )
    elif "NotImplementedError" in _source(getattr(quote, "run", None)):
        gaps.append("TODO 3: `run` still raises NotImplementedError")
    if shape.is_workflow and "priced" not in shape.queries:
        gaps.append("TODO 4: `QuoteWorkflow` has no Query named `priced` yet")
    return gaps


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError):
        return ""


@guarded(FIRST_WORKFLOW_EXERCISE)
async def check_first_workflow(env: NotebookEnv, module: Any) -> Verdict:
    """Exercise 01: ``price_line`` is an activity; ``QuoteWorkflow`` prices every line
    through it (one activity per line, with a timeout), returns the quote, and answers
    the ``priced`` Query with the lines priced so far."""
    exercise = FIRST_WORKFLOW_EXERCISE
    if (wrong := _not_a_module(exercise, module)) is not None:
        return wrong
    gaps = first_workflow_gaps(module)
    if gaps:
        return Verdict(exercise, False, gaps)
    request = module.QuoteRequest(
        customer="exercise",
        lines=[module.QuoteLine(sku, quantity) for sku, quantity in FIRST_WORKFLOW_LINES],
    )
    expected = {sku: module.PRICES_CENTS[sku] * quantity for sku, quantity in FIRST_WORKFLOW_LINES}
    try:
        async with exercise_worker(
            env.client, "01", [module.QuoteWorkflow], [module.price_line]
        ) as task_queue:
            handle = await env.client.start_workflow(
                module.QuoteWorkflow.run, request, id=exercise_id("01"), task_queue=task_queue
            )
            try:
                outcome = await finish(env.client, handle, RUN_TIMEOUT)
                priced = await handle.query("priced") if outcome.completed else None
                recorded = await handle.fetch_history()
            finally:
                await terminate_quietly(handle)  # the run is done, or must not outlive the check
    except WorkerRefused as error:
        return Verdict(exercise, False, [f"The worker refused your code: {error}"])
    if outcome.stuck:
        return Verdict(exercise, False, [_stuck_note(outcome.stuck)])
    if outcome.failure is not None:
        return Verdict(exercise, False, [f"The workflow failed: {outcome.failure}"])
    if outcome.timed_out:
        return Verdict(exercise, False, [f"The quote was not done after {RUN_TIMEOUT:g} s."])
    notes: list[str] = []
    ok = True
    scheduled = [options.activity for options in history.activity_options(recorded)]
    calls = scheduled.count("price_line")
    if calls != len(FIRST_WORKFLOW_LINES):
        ok = False
        notes.append(
            f"The history holds {calls} `price_line` activit{'y' if calls == 1 else 'ies'} "
            f"for {len(FIRST_WORKFLOW_LINES)} lines: every price must come from the "
            "activity, through `workflow.execute_activity(price_line, line, ...)`. Calling "
            "the function directly runs it inside the workflow, where nothing is recorded."
        )
    else:
        notes.append(f"Each of the {calls} lines was priced by its own activity.")
    quote = outcome.result
    total = sum(expected.values())
    if getattr(quote, "total_cents", None) != total:
        ok = False
        notes.append(
            f"The quote's total_cents is {getattr(quote, 'total_cents', None)!r}, expected {total}."
        )
    else:
        notes.append(f"The quote adds up to {total} cents.")
    answered = _lines_by_sku(priced)
    if answered != expected:
        ok = False
        notes.append(
            f"After the run the `priced` Query answered {answered or priced!r}; expected "
            f"the priced lines {expected}."
        )
    else:
        notes.append("The `priced` Query answers with the priced lines.")
    return Verdict(exercise, ok, notes)


def _lines_by_sku(lines: Any) -> dict[str, int]:
    """``{sku: line_cents}`` from whatever the Query returned (dataclasses or dicts)."""
    found: dict[str, int] = {}
    for line in lines or []:
        sku = line.get("sku") if isinstance(line, dict) else getattr(line, "sku", None)
        cents = line.get("line_cents") if isinstance(line, dict) else getattr(line, "line_cents", 0)
        if sku is not None:
            found[str(sku)] = int(cents or 0)
    return found


# --- which module a tutorial's cells run ------------------------------------------------


def module_for(name: str) -> Chosen:
    """The learner's exercise module ``name`` once complete, else the worked solution (with
    a note saying which): what tutorials 01 and 03 run their cells on."""
    gaps = {"ex01_first_workflow": first_workflow_gaps, "ex03_cart": cart_gaps}
    if name not in gaps:
        raise KeyError(f"no exercise module {name!r}; choose from {sorted(gaps)}")
    return yours_or_solution(name, gaps[name])


# --- 02: timeouts and a retry policy at the call site ---------------------------------

PAYMENT_POLICY_EXERCISE = "timeouts and a retry policy for the card gateway"
POLICY_TIMEOUT = 25.0
"""Seconds the five gateway situations may take together (the solution needs ~5 s)."""
SILENCE_NOTICED_WITHIN = 3.0
"""A silent gateway must be given up within this many seconds (heartbeat timeout 2 s)."""
Behaviour = gateway.Behaviour


@dataclass(frozen=True)
class _Played:
    """One gateway situation played on the learner's workflow."""

    behaviour: gateway.Behaviour
    stuck: str | None
    timed_out: bool
    closes: list[history.ActivityClose]
    options: list[history.ActivityOptions]


@guarded(PAYMENT_POLICY_EXERCISE)
async def check_payment_policy(env: NotebookEnv, module: Any) -> Verdict:
    """Exercise 02: ``PaymentWorkflow``'s activity call has a start-to-close timeout, a
    heartbeat timeout of about 2 s, and a RetryPolicy with a 1 s first retry, 3 attempts
    in all and ``CardDeclined`` non-retryable. Judged on five gateway situations."""
    exercise = PAYMENT_POLICY_EXERCISE
    if (wrong := _not_a_module(exercise, module)) is not None:
        return wrong
    payment: Any = getattr(module, "PaymentWorkflow", None)
    if not workflow_shape(payment).is_workflow:
        return Verdict(exercise, False, ["`PaymentWorkflow` is not a workflow class."])
    try:
        async with exercise_worker(
            env.client, "02", [payment], [gateway.charge_card]
        ) as task_queue:
            played = await asyncio.gather(
                *(_play(env.client, payment, task_queue, behaviour) for behaviour in Behaviour)
            )
    except WorkerRefused as error:
        return Verdict(exercise, False, [f"The worker refused your code: {error}"])
    by_behaviour = {run.behaviour: run for run in played}
    stuck = next((run.stuck for run in played if run.stuck), None)
    if stuck:
        return Verdict(exercise, False, [_stuck_note(stuck)])
    notes: list[str] = []
    ok = _judge_options(by_behaviour[Behaviour.OK].options, notes)
    for behaviour, judge in _SITUATIONS.items():
        ok = judge(by_behaviour[behaviour], notes) and ok
    return Verdict(exercise, ok, notes)


async def _play(
    client: Client, payment: Any, task_queue: str, behaviour: gateway.Behaviour
) -> _Played:
    charge = gateway.CardCharge(
        charge_id=exercise_id(f"02-{behaviour.value}"), amount_cents=2500, behaviour=behaviour
    )
    handle = await client.start_workflow(
        payment.run,
        charge,
        id=charge.charge_id,
        task_queue=task_queue,
    )
    try:
        outcome = await finish(client, handle, POLICY_TIMEOUT)
        recorded = await handle.fetch_history()
    finally:
        await terminate_quietly(handle)  # the run is done, or must not outlive the check
    return _Played(
        behaviour,
        outcome.stuck,
        outcome.timed_out,
        history.activity_closes(recorded),
        history.activity_options(recorded),
    )


def _judge_options(options: list[history.ActivityOptions], notes: list[str]) -> bool:
    if not options:
        notes.append("The workflow never called the `charge_card` activity.")
        return False
    call = options[0]
    ok = True
    if call.start_to_close_s is None:
        ok = False
        notes.append(
            "No start_to_close_timeout: one attempt may then run until the whole activity's "
            "schedule-to-close timeout. Bound each attempt (10 s)."
        )
    if call.heartbeat_s is None:
        ok = False
        notes.append(
            "No heartbeat_timeout: the gateway heartbeats while it works, but nobody "
            "listens. With heartbeat_timeout=2 s the server gives up on a silent attempt "
            "after 2 s."
        )
    elif call.heartbeat_s > SILENCE_NOTICED_WITHIN:
        ok = False
        notes.append(f"heartbeat_timeout is {call.heartbeat_s:g} s; the task asks for 2 s.")
    first_retry = _seconds(call.retry.get("initialInterval"))
    if first_retry is not None and first_retry > 2:
        ok = False
        notes.append(f"The first retry comes after {first_retry:g} s; the task asks for 1 s.")
    if ok:
        notes.append(
            f"Timeouts: {call.start_to_close_s:g} s per attempt, given up after "
            f"{call.heartbeat_s:g} s without a heartbeat."
        )
    return ok


def _seconds(duration: Any) -> float | None:
    """A protobuf JSON duration (``"1s"``, ``"0.500s"``) in seconds."""
    if not isinstance(duration, str) or not duration.endswith("s"):
        return None
    return float(duration[:-1])


def _close(played: _Played) -> history.ActivityClose | None:
    return played.closes[-1] if played.closes else None


def _judge_flaky(played: _Played, notes: list[str]) -> bool:
    close = _close(played)
    if close and close.outcome == "completed" and close.attempt == 3:
        notes.append("A gateway that failed twice was retried and charged on attempt 3.")
        return True
    if close is None:
        notes.append("A gateway that fails twice was still not done when the check gave up.")
    else:
        notes.append(
            f"A gateway that fails twice ended {close.outcome} on attempt {close.attempt}; "
            "it should be charged on attempt 3."
        )
    return False


def _judge_down(played: _Played, notes: list[str]) -> bool:
    close = _close(played)
    if close and close.outcome == "failed" and close.attempt == 3:
        notes.append("A gateway that is down was attempted exactly 3 times, then given up.")
        return True
    if close is None:
        notes.append(
            f"A gateway that is down was still being retried after {POLICY_TIMEOUT:g} s: "
            "`maximum_attempts=3` stops it (0, the default, means no limit)."
        )
    elif close.attempt > 3:
        notes.append(
            f"A gateway that is down was attempted {close.attempt} times: "
            "`maximum_attempts` counts the first attempt too, so 3 means two retries."
        )
    else:
        notes.append(f"A gateway that is down was attempted {close.attempt} time(s), not 3.")
    return False


def _judge_declined(played: _Played, notes: list[str]) -> bool:
    close = _close(played)
    if close and close.attempt == 1 and close.outcome == "failed":
        notes.append("A declined card was attempted once: no retry.")
        return True
    attempts = close.attempt if close else "several"
    notes.append(
        f"A declined card was attempted {attempts} times: a decline does not get better. "
        "The gateway raises it as an ordinary error, so name its type in the policy: "
        f"`non_retryable_error_types=[{gateway.CARD_DECLINED!r}]`."
    )
    return False


def _judge_silent(played: _Played, notes: list[str]) -> bool:
    close = _close(played)
    previous = (close.previous_failure or "") if close else ""
    if close and close.outcome == "completed" and "Heartbeat" in previous:
        notes.append(
            "A gateway that went silent was given up by the heartbeat timeout and charged "
            f"on attempt {close.attempt}."
        )
        return True
    if close and close.outcome == "completed" and previous:
        notes.append(
            f"A gateway that went silent was given up only by: {previous}. A heartbeat "
            "timeout notices the silence sooner."
        )
    else:
        notes.append("A gateway that went silent was not given up and retried in time.")
    return False


_SITUATIONS: dict[gateway.Behaviour, Callable[[_Played, list[str]], bool]] = {
    Behaviour.FLAKY: _judge_flaky,
    Behaviour.DOWN: _judge_down,
    Behaviour.DECLINED: _judge_declined,
    Behaviour.SILENT: _judge_silent,
}


# --- 03 (a): Query, Signal and Update on your own workflow -----------------------------

CART_EXERCISE = "a cart with a Query, a Signal and an Update with a validator"
CART_ITEMS = (("ceramic-mug", 2), ("espresso-beans", 1), ("ceramic-mug", 1))
UPDATE_RPC_TIMEOUT = 5.0


def cart_gaps(module: ModuleType) -> list[str]:
    """What exercise 03's cart still lacks, without running it (empty: complete)."""
    shape = workflow_shape(getattr(module, "CartWorkflow", None))
    if not shape.is_workflow:
        return [f"`CartWorkflow` is not a workflow class ({shape.error or 'no @workflow.defn'})"]
    gaps = []
    if "items" not in shape.queries:
        gaps.append(_handler_gap("TODO 1", "items", "Query", shape))
    if "add_item" not in shape.signals:
        gaps.append(_handler_gap("TODO 2", "add_item", "Signal", shape))
    if "checkout" not in shape.updates:
        gaps.append(_handler_gap("TODO 3", "checkout", "Update", shape))
    elif "checkout" not in shape.validated_updates:
        gaps.append("TODO 3: the `checkout` Update has no validator (`@checkout.validator`)")
    return gaps


def _handler_gap(todo: str, name: str, kind: str, shape: Any) -> str:
    for other, handlers in (("Query", shape.queries), ("Signal", shape.signals)):
        if name in handlers and other != kind:
            return f"{todo}: `{name}` is a {other}; the task asks for a {kind}"
    if name in shape.updates and kind != "Update":
        return f"{todo}: `{name}` is an Update; the task asks for a {kind}"
    return f"{todo}: no {kind} named `{name}` yet"


@guarded(CART_EXERCISE)
async def check_cart(env: NotebookEnv, module: Any) -> Verdict:
    """Exercise 03 (a): ``CartWorkflow`` answers the ``items`` Query, takes ``add_item``
    Signals, and its ``checkout`` Update answers with the units in the cart - after its
    validator refused an empty cart without leaving a trace in the history."""
    exercise = CART_EXERCISE
    if (wrong := _not_a_module(exercise, module)) is not None:
        return wrong
    gaps = cart_gaps(module)
    if gaps:
        return Verdict(exercise, False, gaps)
    cart = module.CartWorkflow
    try:
        async with exercise_worker(env.client, "03-cart", [cart]) as task_queue:
            handle = await env.client.start_workflow(
                cart.run, "exercise", id=exercise_id("03-cart"), task_queue=task_queue
            )
            try:
                refusal = await _checkout(handle)
                if not isinstance(refusal, WorkflowUpdateFailedError):
                    return Verdict(exercise, False, [_not_refused(refusal)])
                after_refusal = await handle.fetch_history()
                for sku, quantity in CART_ITEMS:
                    await handle.signal("add_item", module.CartItem(sku, quantity))
                contents = await handle.query("items")
                answer = await _checkout(handle)
                outcome = await finish(env.client, handle, RUN_TIMEOUT)
                recorded = await handle.fetch_history()
            finally:
                await terminate_quietly(handle)  # the run is done, or must not outlive the check
    except WorkerRefused as error:
        return Verdict(exercise, False, [f"The worker refused your code: {error}"])
    if outcome.stuck:
        return Verdict(exercise, False, [_stuck_note(outcome.stuck)])
    notes: list[str] = []
    ok = True
    if _update_names(after_refusal):
        ok = False
        notes.append(
            "An empty cart was refused, but only after the Update was accepted into the "
            "history: refuse it in the validator, which runs before anything is recorded."
        )
    else:
        notes.append(f"An empty cart was refused by the validator: {_reason(refusal)}.")
    expected: dict[str, int] = {}
    for sku, quantity in CART_ITEMS:
        expected[sku] = expected.get(sku, 0) + quantity
    if contents != expected:
        ok = False
        notes.append(
            f"After three `add_item` Signals the `items` Query answered {contents!r}, "
            f"expected {expected}."
        )
    else:
        notes.append(f"Three Signals were applied; the Query shows {contents}.")
    units = sum(expected.values())
    if answer != units:
        ok = False
        notes.append(f"The checkout Update answered {_answer_text(answer)}, expected {units}.")
    elif not outcome.completed or outcome.result != expected:
        ok = False
        notes.append(
            "The checkout Update answered, but the workflow did not then complete with the "
            f"cart ({_outcome_text(outcome)})."
        )
    else:
        notes.append(f"The checkout Update answered {units}, and the workflow completed.")
    signals = _signal_names(recorded)
    if signals.count("add_item") != len(CART_ITEMS):
        ok = False
        notes.append(f"The history holds {signals.count('add_item')} `add_item` Signals.")
    return Verdict(exercise, ok, notes)


def _not_refused(answer: Any) -> str:
    if isinstance(answer, UpdateTimeout):
        return (
            f"Checking out an empty cart got no answer within {UPDATE_RPC_TIMEOUT:g} s: does "
            "the handler or the validator raise something the workflow cannot handle?"
        )
    return (
        f"Checking out an empty cart answered {answer!r}: the validator must refuse it "
        "(raise an exception in it)."
    )


def _answer_text(answer: Any) -> str:
    if isinstance(answer, WorkflowUpdateFailedError):
        return f"with an error ({_reason(answer)})"
    if isinstance(answer, UpdateTimeout):
        return f"nothing within {UPDATE_RPC_TIMEOUT:g} s"
    return repr(answer)


async def _checkout(handle: Any) -> Any:
    """The checkout Update's answer, or the error it raised (a refusal, a timeout)."""
    try:
        return await handle.execute_update(
            "checkout", rpc_timeout=timedelta(seconds=UPDATE_RPC_TIMEOUT)
        )
    except (WorkflowUpdateFailedError, UpdateTimeout) as error:
        return error


def _reason(error: WorkflowUpdateFailedError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


def _outcome_text(outcome: Any) -> str:
    if outcome.failure is not None:
        return f"it failed: {outcome.failure}"
    if outcome.timed_out:
        return f"still running after {RUN_TIMEOUT:g} s"
    return f"it returned {outcome.result!r}"


def _update_names(recorded: WorkflowHistory) -> list[str]:
    return [name for kind, name in history.messages(recorded) if kind == "update"]


def _signal_names(recorded: WorkflowHistory) -> list[str]:
    return [name for kind, name in history.messages(recorded) if kind == "signal"]


# --- 03 (b): cancel while the payment is being retried --------------------------------

CANCEL_EXERCISE = "cancel with the Update while the payment is being retried"
CANCEL_ORDERS = {"soon": 0.0, "later": 2.5}
"""The check's two orders and their step delays: the payment starts retrying at about
0.5 s in one and 5.5 s in the other, so no fixed sleep hits both retry windows."""


@guarded(CANCEL_EXERCISE)
async def check_cancel_while_retrying(
    env: NotebookEnv, cancel_while_retrying: Callable[[NotebookEnv, str], Awaitable[Any]]
) -> Verdict:
    """Exercise 03 (b): ``cancel_while_retrying(env, order_id)`` waits until the status
    Query shows the payment step ``retrying`` (the gateway is down), then cancels with the
    ``cancel_order`` Update. Run on two orders whose retries start at different times:
    each must end CANCELLED after a failed payment attempt, through the Update, with
    nothing charged and the stock back."""
    exercise = CANCEL_EXERCISE
    sku = f"exercise-03-{new_order_id()[:8]}"
    await env.restock(sku, 4, "15.00", name="Exercise 03 product")
    placed = {
        name: await env.place_order(
            sku,
            1,
            order_id=await env.new_order_id(f"ex03-{name}-{new_order_id()[:6]}"),
            step_delay=delay,
            faults={"charge_payment": {"fail_first_n": 10}},
            retry={"initial_interval": 1.0, "backoff_coefficient": 1.0, "maximum_attempts": 6},
        )
        for name, delay in CANCEL_ORDERS.items()
    }
    try:
        await asyncio.gather(
            *(_call(cancel_while_retrying, env, order) for order in placed.values())
        )
    except Exception as error:
        for order in placed.values():
            await _stop_order(env, order)
        if isinstance(error, NotImplementedError):
            return Verdict(
                exercise, False, ["Not answered yet: replace `raise NotImplementedError`."]
            )
        if isinstance(error, TimeoutError):
            return Verdict(
                exercise, False, [f"Your function did not return in {ANSWER_TIMEOUT:g} s."]
            )
        return Verdict(exercise, False, [f"Your function raised {type(error).__name__}: {error}"])
    notes: list[str] = []
    ok = True
    for name, order in placed.items():
        order_ok, order_notes = await _judge_cancel(env, order, name)
        ok = ok and order_ok
        notes += order_notes
    if await env.store.stock(sku) != 4:
        ok = False
        notes.append("The reserved stock was not all put back.")
    return Verdict(exercise, ok, notes)


async def _stop_order(env: NotebookEnv, order_id: str) -> None:
    """Cancel a check's order the learner's answer left running (never raises)."""
    try:
        await env.cancel(order_id, "exercise cleanup", signal=True)
    except Exception:  # already final, or gone: nothing to clean up
        return


async def _judge_cancel(env: NotebookEnv, order_id: str, name: str) -> tuple[bool, list[str]]:
    final = await env.wait(order_id, timeout=ANSWER_TIMEOUT)
    workflow_id = order_workflow_id(order_id)
    charges = [
        a for a in await env.store.attempts(workflow_id) if a.step == StepName.CHARGE_PAYMENT
    ]
    failed = [a for a in charges if a.outcome in FAILED_OUTCOMES]
    recorded = await history.fetch(env.client, workflow_id)
    messages = history.messages(recorded)
    label = f"Order {name!r}"
    if final.state != OrderState.CANCELLED:
        return False, [
            f"{label} ended {final.state.value}: your cancel never took effect (after 6 "
            "failed payment attempts an order fails on its own)."
        ]
    if ("signal", CANCEL_SIGNAL) in messages:
        return False, [
            f"{label} was cancelled with the `{CANCEL_SIGNAL}` Signal; the task asks for the "
            f"`{CANCEL_UPDATE}` Update (`env.cancel(order_id, reason)`), which answers - or "
            "says no."
        ]
    if ("update", CANCEL_UPDATE) not in messages:
        return False, [f"{label} was cancelled, but not through the `{CANCEL_UPDATE}` Update."]
    if not failed:
        return False, [
            f"{label} was cancelled before its payment had failed even once: wait until the "
            "status Query shows the charge_payment step as 'retrying' (a fixed sleep is "
            "too early for one order and too late for another)."
        ]
    notes = [
        f"{label} was cancelled with the Update after {len(failed)} failed payment "
        "attempt(s), while Temporal was retrying."
    ]
    net = await env.store.net_charged(workflow_id)
    if net != 0:
        return False, [*notes, f"{label}: the customer was charged {net}."]
    return True, notes


# --- shared by 06 and 07 --------------------------------------------------------------

ORDER_TIMEOUT = 15.0
"""Seconds the exercise's new order may take before the check gives up on it."""


class HasClientAndStore(Protocol):
    """The notebook env (``orderflow.notebook.NotebookEnv``) or anything with the same two."""

    client: Client
    store: Store


# --- 06: make a change safely with a patch --------------------------------------------

COOLING_OFF_EXERCISE = "add the cooling-off timer without breaking running orders"


@guarded(COOLING_OFF_EXERCISE)
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

    The test runs under pytest in a subprocess, behind the ``orders`` fixture, once with
    each version: the project's ``OrderWorkflow`` and
    :class:`~orderflow.teaching.variants.RefactoredOrderWorkflow` (same behaviour, another
    class: it must pass on both) and
    :class:`~orderflow.teaching.variants.LeakyStockOrderWorkflow` (it must fail).
    """
    try:
        run = await testkit.run_tests(test, workflows=("correct", "refactored", "broken"))
    except (TypeError, OSError) as error:  # not a function, no source to copy, ...
        return Verdict(DECLINED_CARD_EXERCISE, False, [str(error)])
    by_workflow = {result.param: result for result in run.results}
    correct, refactored, broken = (
        by_workflow.get(name) for name in ("correct", "refactored", "broken")
    )
    if correct is None or refactored is None or broken is None:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "pytest did not run your test against every workflow version. Name it "
                "`test_...`, make it take the `orders` fixture, and check its output:",
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
    if not refactored.passed:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "Your test passes on the correct workflow.",
                "It fails on a refactored one that behaves exactly the same: it tests how "
                f"the code is built, not what happens to the order ({refactored.message}).",
            ],
        )
    if broken.passed:
        return Verdict(
            DECLINED_CARD_EXERCISE,
            False,
            [
                "Your test passes on the correct workflow (and on a refactored one).",
                "It also passes on the broken one, which keeps the stock after a declined "
                "card: it does not catch the bug. What should the stock be afterwards?",
            ],
        )
    return Verdict(
        DECLINED_CARD_EXERCISE,
        True,
        [
            "Your test passes on the correct workflow, and on a refactored one.",
            f"It fails on the broken one: {broken.message}",
        ],
    )


# --- 08: wait for the review, but not forever -------------------------------------------

REVIEW_WAIT_EXERCISE = "wait for the review, but not forever"
GATE_DECIDED_TIMEOUT = 5.0
"""Seconds the gates that get a decision would wait; the reviewer answers at once."""
GATE_SILENT_TIMEOUT = 2.0
"""Seconds the gate nobody reviews must wait before it gives up."""
GATE_GRACE = 5.0
"""How much longer than its timeout a gate may take before the check stops it."""


@guarded(REVIEW_WAIT_EXERCISE)
async def check_review_wait(env: HasClientAndStore, workflow_class: Any) -> Verdict:
    """Exercise 08: ``workflow_class`` (the learner's ``ReviewGate``) waits for the ``review``
    Update with a durable timeout.

    Three gates run on a worker of their own: one approved and one rejected right after it
    began waiting (each must answer at once, its timer cancelled), and one nobody reviews
    (it must give up after its timeout - one timer, fired - and return ``NO_DECISION``).
    """
    if (
        not isinstance(workflow_class, type)
        or workflow_class.__dict__.get("__temporal_workflow_definition") is None
    ):
        return Verdict(
            REVIEW_WAIT_EXERCISE,
            False,
            [
                "Give the check your workflow class, `ex08_review_wait.ReviewGate` "
                f"(with `@workflow.defn`), not {workflow_class!r}."
            ],
        )
    task_queue = f"teaching-ex08-{new_order_id()}"
    try:
        worker = Worker(env.client, task_queue=task_queue, workflows=[workflow_class])
    except Exception as error:  # the sandbox validates the workflow here
        return Verdict(
            REVIEW_WAIT_EXERCISE,
            False,
            [f"The worker refused your workflow: {history.first_line(str(error))}"],
        )
    decisions = {
        "approve": ReviewRequest(decision=ReviewDecision.APPROVE, reviewer="lin"),
        "reject": ReviewRequest(decision=ReviewDecision.REJECT, reviewer="sam"),
        "silent": None,
    }
    async with worker:
        runs = await asyncio.gather(
            *(
                review_gate.run_gate(
                    env.client,
                    workflow_class,
                    task_queue=task_queue,
                    workflow_id=f"{task_queue}-{scenario}",
                    scenario=scenario,
                    timeout_seconds=timeout,
                    decision=decision,
                    limit=timeout + GATE_GRACE,
                )
                for scenario, decision in decisions.items()
                for timeout in [GATE_SILENT_TIMEOUT if decision is None else GATE_DECIDED_TIMEOUT]
            )
        )
    return _judge_review_wait(*runs)


def _judge_review_wait(
    approved: review_gate.GateRun, rejected: review_gate.GateRun, silent: review_gate.GateRun
) -> Verdict:
    for run in (approved, rejected, silent):
        if run.stuck is not None and run.stuck.startswith("NotImplementedError"):
            return Verdict(
                REVIEW_WAIT_EXERCISE,
                False,
                [
                    "Not answered yet: `run` still raises NotImplementedError. Write the wait "
                    "in ex08_review_wait.py, save it, and run this cell again."
                ],
            )
        if run.stuck is not None:
            return Verdict(
                REVIEW_WAIT_EXERCISE,
                False,
                [
                    f"A workflow task of your gate failed: {run.stuck}. Temporal retries a "
                    "failing workflow task instead of failing the workflow, so the gate "
                    "would hang there; the check stopped it."
                ],
            )
    notes = [
        _judge_decided(approved, review_gate.APPROVED),
        _judge_decided(rejected, review_gate.REJECTED),
        _judge_unreviewed_gate(silent),
    ]
    ok = all(good for good, _ in notes)
    return Verdict(REVIEW_WAIT_EXERCISE, ok, [note for _, note in notes])


def _polling(run: review_gate.GateRun) -> str | None:
    if len(run.timers) <= 1:
        return None
    return (
        f"its history holds {len(run.timers)} timers: it polls with short sleeps. One "
        "`wait_condition` with a timeout records a single timer and wakes up the moment "
        "the decision arrives."
    )


def _judge_decided(run: review_gate.GateRun, expected: str) -> tuple[bool, str]:
    decided = "approved" if expected == review_gate.APPROVED else "rejected"
    who = f"A gate {decided} as soon as it waited"
    if run.update_error is not None:
        return False, f"{who}: the review Update was refused ({run.update_error})."
    if run.overran:
        return False, (
            f"{who} was still running {run.timeout_seconds + GATE_GRACE:g} s later; "
            "the check stopped it."
        )
    if run.failure is not None:
        return False, f"{who} failed: {run.failure}."
    if run.result != expected:
        return False, f"{who} returned {run.result!r}; it should return {expected!r}."
    polling = _polling(run)
    if polling is not None:
        return False, f"{who} returned {expected!r}, but {polling}"
    if run.fired and run.timers[0] < run.timeout_seconds:
        return False, (
            f"{who} returned {expected!r}, but it noticed the decision only when a "
            f"{run.timers[0]:g} s timer fired: it polls with short sleeps. "
            "`wait_condition` wakes up the moment the decision arrives."
        )
    if run.fired:
        return False, (
            f"{who} returned {expected!r} - but only after its {run.timers[0]:g} s timer "
            "fired: it waited out the whole timeout although the decision was already "
            "there (a sleep followed by a check does that every time). `wait_condition` "
            "returns as soon as its condition is true."
        )
    timer = " and its timer was cancelled (TimerCanceled)" if run.cancelled else ""
    return True, f"{who} returned {expected!r} at once{timer}."


def _judge_unreviewed_gate(run: review_gate.GateRun) -> tuple[bool, str]:
    who = "A gate nobody reviewed"
    asked = f"{run.timeout_seconds:g} s"
    if run.update_error is not None:  # not expected: nobody sends one
        return False, f"{who}: {run.update_error}."
    if run.overran:
        if not run.timers:
            return False, (
                f"{who} was still waiting {run.timeout_seconds + GATE_GRACE:g} s later, "
                "with no timer in its history: `wait_condition` without `timeout=` waits "
                f"forever. Pass `timeout=request.timeout` ({asked} here)."
            )
        return False, (
            f"{who} was still waiting {run.timeout_seconds + GATE_GRACE:g} s later: its "
            f"timer was {run.timers[0]:g} s, the request asked for {asked} "
            "(`request.timeout`)."
        )
    if run.failure is not None and run.failure.startswith("TimeoutError"):
        return False, (
            f"{who}: after {asked} `wait_condition` raised the built-in TimeoutError, "
            "nothing caught it, and the workflow FAILED. Catch `TimeoutError` (the "
            "built-in one; `asyncio.TimeoutError` is the same class, while "
            "`temporalio.exceptions.TimeoutError` is another, for activity and workflow "
            "timeouts) and return NO_DECISION."
        )
    if run.failure is not None:
        return False, f"{who} failed: {run.failure}."
    if run.result != review_gate.NO_DECISION:
        return False, (
            f"{who} returned {run.result!r}; without a decision it must return "
            f"NO_DECISION ({review_gate.NO_DECISION!r}): an order nobody approved must "
            "not go ahead."
        )
    polling = _polling(run)
    if polling is not None:
        return False, f"{who} returned {review_gate.NO_DECISION!r}, but {polling}"
    if not run.timers:
        return False, (
            f"{who} returned {review_gate.NO_DECISION!r} without waiting at all (no timer "
            f"in its history): it must wait up to {asked} for a decision."
        )
    if abs(run.timers[0] - run.timeout_seconds) > 0.001:
        return False, (
            f"{who} waited {run.timers[0]:g} s; the request asked for {asked} (`request.timeout`)."
        )
    return True, (
        f"{who} gave up when its {asked} timer fired (TimerFired) and returned "
        f"{review_gate.NO_DECISION!r}."
    )


# --- 09: rescue the orders stuck on a workflow bug ---------------------------------------

RESCUE_EXERCISE = "rescue the orders stuck on the settlement bug"
RESCUE_ORDERS = 2
RESCUE_PRICE = Decimal("60.00")
RESCUE_STOCK = 10
RESCUE_WAIT = 10.0
"""Seconds a rescued order may take to finish (its fixed settlement wait is 2 s)."""


@guarded(RESCUE_EXERCISE)
async def check_rescue_stuck_orders(
    env: NotebookEnv, rescue: Callable[[NotebookEnv, list[str]], Awaitable[Any]]
) -> Verdict:
    """Exercise 09: ``rescue(env, order_ids)`` gets orders stuck on the two-hour
    settlement timer (the fix already deployed) to COMPLETED: the same orders (same
    execution chain), each charged once, stock taken once.

    The check builds the incident on a task queue of its own: the buggy build, orders
    charged and stuck, then the fixed build rolled out. Then it calls the answer.
    """
    from orderflow.teaching.deployment import Deployment
    from orderflow.teaching.incidents import (
        SettlementBugOrderWorkflow,
        SettlementFixedOrderWorkflow,
    )

    sku = "exercise-09"  # its stock reset, so every run starts the same
    await env.restock(sku, RESCUE_STOCK, str(RESCUE_PRICE), name="Exercise 09 product")
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
