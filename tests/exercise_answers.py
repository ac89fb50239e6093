"""Wrong answers to the exercises of tutorials 01-03, for tests/test_exercises.py.

Workflow code lives in an importable module (the sandbox re-imports it), so the wrong
answers are classes here; a test puts one into a copy of the worked solution's module and
hands that to the check, exactly as a learner's edited module would reach it. The
notebooks' directory must be on ``sys.path`` (the tests put it there) for the imports of
the solutions below.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from solutions.ex01_first_workflow import (
        PRICES_CENTS,
        Quote,
        QuoteLine,
        QuoteRequest,
        price_line,
    )
    from solutions.ex03_cart import CartItem

    from orderflow.teaching.gateway import CARD_DECLINED, CardCharge, charge_card

STEP = timedelta(seconds=5)


# --- exercise 01 ---------------------------------------------------------------------


@workflow.defn
class PricesInTheWorkflow:
    """Looks the prices up itself: right numbers, but no activity ever runs."""

    def __init__(self) -> None:
        self._priced: list[QuoteLine] = []

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        for line in request.lines:
            cents = PRICES_CENTS[line.sku] * line.quantity
            self._priced.append(QuoteLine(line.sku, line.quantity, cents))
        return Quote(request.customer, self._priced, sum(p.line_cents for p in self._priced))

    @workflow.query
    def priced(self) -> list[QuoteLine]:
        return self._priced


@workflow.defn
class CallsTheActivityFunction:
    """``await price_line(line)``: the function runs inside the workflow, not as an activity."""

    def __init__(self) -> None:
        self._priced: list[QuoteLine] = []

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        for line in request.lines:
            self._priced.append(await price_line(line))
        return Quote(request.customer, self._priced, sum(p.line_cents for p in self._priced))

    @workflow.query
    def priced(self) -> list[QuoteLine]:
        return self._priced


@workflow.defn
class NoQuery:
    """Prices through the activity but answers no Query."""

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        lines = [
            await workflow.execute_activity(price_line, line, start_to_close_timeout=STEP)
            for line in request.lines
        ]
        return Quote(request.customer, lines, sum(p.line_cents for p in lines))


@workflow.defn
class QueryForgetsTheLines:
    """Never keeps the priced lines, so its Query always answers an empty list."""

    def __init__(self) -> None:
        self._priced: list[QuoteLine] = []

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        lines = [
            await workflow.execute_activity(price_line, line, start_to_close_timeout=STEP)
            for line in request.lines
        ]
        return Quote(request.customer, lines, sum(p.line_cents for p in lines))

    @workflow.query
    def priced(self) -> list[QuoteLine]:
        return self._priced


@workflow.defn
class RaisesInRun:
    """Complete handlers, but ``run`` raises a plain exception: the workflow task fails."""

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        raise KeyError("no price for " + request.lines[0].sku)

    @workflow.query
    def priced(self) -> list[QuoteLine]:
        return []


# --- exercise 02 ---------------------------------------------------------------------


@workflow.defn(name="PaymentWorkflow")
class MaximumAttemptsOnly:
    """The shortcut: ``RetryPolicy(maximum_attempts=3)`` and nothing else it asks for."""

    @workflow.run
    async def run(self, charge: CardCharge) -> str:
        return await workflow.execute_activity(
            charge_card,
            charge,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


@workflow.defn(name="PaymentWorkflow")
class OneAttemptTooMany:
    """Everything asked for, but 3 *retries*: 4 attempts."""

    @workflow.run
    async def run(self, charge: CardCharge) -> str:
        return await workflow.execute_activity(
            charge_card,
            charge,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=1.0,
                maximum_attempts=4,
                non_retryable_error_types=[CARD_DECLINED],
            ),
        )


@workflow.defn(name="PaymentWorkflow")
class DeclineMisspelled:
    """Names the decline by a type the gateway never raises: declines are retried."""

    @workflow.run
    async def run(self, charge: CardCharge) -> str:
        return await workflow.execute_activity(
            charge_card,
            charge,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_attempts=3,
                non_retryable_error_types=["card_declined"],
            ),
        )


@workflow.defn(name="PaymentWorkflow")
class ShortAttemptsNoHeartbeat:
    """Catches the silent gateway with a 2 s start-to-close instead of a heartbeat timeout."""

    @workflow.run
    async def run(self, charge: CardCharge) -> str:
        return await workflow.execute_activity(
            charge_card,
            charge,
            start_to_close_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_attempts=3,
                non_retryable_error_types=[CARD_DECLINED],
            ),
        )


# --- exercise 03 (the cart) ------------------------------------------------------------


@workflow.defn(name="CartWorkflow")
class CheckoutBySignal:
    """``checkout`` as a Signal: the customer never gets an answer, nor a "no"."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._checked_out = False

    @workflow.run
    async def run(self, customer: str) -> dict[str, int]:
        await workflow.wait_condition(lambda: self._checked_out)
        return self._items

    @workflow.query
    def items(self) -> dict[str, int]:
        return self._items

    @workflow.signal
    def add_item(self, item: CartItem) -> None:
        self._items[item.sku] = self._items.get(item.sku, 0) + item.quantity

    @workflow.signal
    def checkout(self) -> None:
        self._checked_out = bool(self._items)


@workflow.defn(name="CartWorkflow")
class RefusesInTheHandler:
    """Has a validator that lets everything through; the handler refuses an empty cart,
    after the Update was already accepted into the history."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._checked_out = False

    @workflow.run
    async def run(self, customer: str) -> dict[str, int]:
        await workflow.wait_condition(lambda: self._checked_out)
        return self._items

    @workflow.query
    def items(self) -> dict[str, int]:
        return self._items

    @workflow.signal
    def add_item(self, item: CartItem) -> None:
        self._items[item.sku] = self._items.get(item.sku, 0) + item.quantity

    @workflow.update
    def checkout(self) -> int:
        if not self._items:
            raise ApplicationError("the cart is empty")
        self._checked_out = True
        return sum(self._items.values())

    @checkout.validator
    def _accept_anything(self) -> None:
        return None


@workflow.defn(name="CartWorkflow")
class EmptyCartChecksOut:
    """Its validator never refuses: an empty cart checks out."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._checked_out = False

    @workflow.run
    async def run(self, customer: str) -> dict[str, int]:
        await workflow.wait_condition(lambda: self._checked_out)
        return self._items

    @workflow.query
    def items(self) -> dict[str, int]:
        return self._items

    @workflow.signal
    def add_item(self, item: CartItem) -> None:
        self._items[item.sku] = self._items.get(item.sku, 0) + item.quantity

    @workflow.update
    def checkout(self) -> int:
        self._checked_out = True
        return sum(self._items.values())

    @checkout.validator
    def _accept_anything(self) -> None:
        return None


@workflow.defn(name="CartWorkflow")
class SignalOverwrites:
    """``add_item`` replaces the quantity instead of adding to it."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._checked_out = False

    @workflow.run
    async def run(self, customer: str) -> dict[str, int]:
        await workflow.wait_condition(lambda: self._checked_out)
        return self._items

    @workflow.query
    def items(self) -> dict[str, int]:
        return self._items

    @workflow.signal
    def add_item(self, item: CartItem) -> None:
        self._items[item.sku] = item.quantity

    @workflow.update
    def checkout(self) -> int:
        self._checked_out = True
        return sum(self._items.values())

    @checkout.validator
    def _refuse_an_empty_cart(self) -> None:
        if not self._items:
            raise ValueError("the cart is empty")


@workflow.defn(name="CartWorkflow")
class QueryRaises:
    """Its Query handler raises: the caller of the Query gets an error."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._checked_out = False

    @workflow.run
    async def run(self, customer: str) -> dict[str, int]:
        await workflow.wait_condition(lambda: self._checked_out)
        return self._items

    @workflow.query
    def items(self) -> dict[str, int]:
        raise LookupError("the cart is in another castle")

    @workflow.signal
    def add_item(self, item: CartItem) -> None:
        self._items[item.sku] = self._items.get(item.sku, 0) + item.quantity

    @workflow.update
    def checkout(self) -> int:
        self._checked_out = True
        return sum(self._items.values())

    @checkout.validator
    def _refuse_an_empty_cart(self) -> None:
        if not self._items:
            raise ValueError("the cart is empty")
