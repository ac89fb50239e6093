"""Answers for tests/test_waits_teaching.py: tutorial 08's exercise and its testkit.

- Wrong answers to the exercise (the review gate). Workflows live in an importable
  module: the sandbox re-imports the module of every workflow it runs. Each class is the
  scaffold's ``ReviewGate`` with one mistake in ``run`` (and one that is right in its own
  way).
- Tests a learner might write with the time-skipping fixture; ``testkit.run_tests`` copies
  their source into a test module of their own.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.exceptions import TimeoutError as TemporalTimeoutError

    from orderflow.models import OrderState, ReviewDecision, ReviewRequest
    from orderflow.teaching.review_gate import (
        APPROVED,
        GATE_UPDATE,
        NO_DECISION,
        REJECTED,
        GateRequest,
    )


class _Gate:
    """The scaffold's parts that are not the exercise: state, Update, validator."""

    @workflow.init
    def __init__(self, request: GateRequest) -> None:
        self.decision: ReviewRequest | None = None

    @workflow.update(name=GATE_UPDATE)
    def review(self, decision: ReviewRequest) -> str:
        self.decision = decision
        return f"{decision.decision.value} by {decision.reviewer}"

    def answer(self) -> str:
        if self.decision is None:
            return NO_DECISION
        return APPROVED if self.decision.decision == ReviewDecision.APPROVE else REJECTED


@workflow.defn(name="ReviewGate")
class SleepsThenChecks(_Gate):
    """The shortcut: sleep the whole timeout, then look. Right answers, always late."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        await workflow.sleep(request.timeout)
        return self.answer()


@workflow.defn(name="ReviewGate")
class AsyncioSleepsThenChecks(_Gate):
    """The same shortcut with ``asyncio.sleep`` (also a durable timer in a workflow)."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        await asyncio.sleep(request.timeout_seconds)
        return self.answer()


@workflow.defn(name="ReviewGate")
class PollsWithShortSleeps(_Gate):
    """The other shortcut: a loop of short sleeps until a decision or the deadline."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        deadline = workflow.now() + request.timeout
        while self.decision is None and workflow.now() < deadline:
            await workflow.sleep(0.25)
        return self.answer()


@workflow.defn(name="ReviewGate")
class IgnoresTheTimeout(_Gate):
    """Waits for the decision and nothing else: an order nobody reviews waits forever."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        await workflow.wait_condition(lambda: self.decision is not None)
        return self.answer()


@workflow.defn(name="ReviewGate")
class LetsTheTimeoutEscape(_Gate):
    """Right wait, but the TimeoutError is not caught: the workflow fails."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        await workflow.wait_condition(lambda: self.decision is not None, timeout=request.timeout)
        return self.answer()


@workflow.defn(name="ReviewGate")
class CatchesTemporalsTimeoutError(_Gate):
    """Catches ``temporalio.exceptions.TimeoutError``, which is not what is raised."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=request.timeout
            )
        except TemporalTimeoutError:
            return NO_DECISION
        return self.answer()


@workflow.defn(name="ReviewGate")
class ApprovesWhenNobodyAnswers(_Gate):
    """Treats silence as consent."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=request.timeout
            )
        except TimeoutError:
            return APPROVED
        return self.answer()


@workflow.defn(name="ReviewGate")
class WaitsMinutesNotSeconds(_Gate):
    """Reads the timeout in the wrong unit: seconds taken as minutes."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=request.timeout_seconds * 60
            )
        except TimeoutError:
            return NO_DECISION
        return self.answer()


@workflow.defn(name="ReviewGate")
class SleepsOnTheWallClock(_Gate):
    """``time.sleep`` in a workflow: the sandbox refuses it (a failing workflow task)."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        time.sleep(0.1)  # noqa: ASYNC251 - the mistake this answer makes
        return self.answer()


@workflow.defn(name="ReviewGate")
class WaitsWithAsyncioWaitFor(_Gate):
    """Not the notebook's spelling, but right: ``asyncio.wait_for`` on a condition is
    the same durable timer (``wait_condition`` is built on it)."""

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        try:
            await asyncio.wait_for(
                workflow.wait_condition(lambda: self.decision is not None),
                request.timeout_seconds,
            )
        except TimeoutError:
            return NO_DECISION
        return self.answer()


# --- tests written with the time-skipping fixture (their source is copied by run_tests) ---


async def test_review_day_passes_in_seconds(skipping):
    sku = await skipping.product(stock=3, price="650.00")
    order_id = await skipping.start(sku)
    waiting = await skipping.until_state(order_id, OrderState.AWAITING_REVIEW)
    await skipping.env.sleep(timedelta(hours=24, minutes=1))
    final = await skipping.wait(order_id)
    assert final.state == OrderState.CANCELLED
    assert final.updated_at - waiting.created_at >= timedelta(hours=24)
    assert await skipping.stock(sku) == 3


async def test_review_expects_completion(skipping):
    """Wrong on purpose: an order nobody reviews is cancelled, not completed."""
    sku = await skipping.product(stock=3, price="650.00")
    order_id = await skipping.start(sku)
    await skipping.until_state(order_id, OrderState.AWAITING_REVIEW)
    await skipping.env.sleep(timedelta(hours=25))
    assert (await skipping.wait(order_id)).state == OrderState.COMPLETED
