"""Exercise of 01_first_workflow: your first workflow and activity.

A price quote. For each line of a customer's cart, the workflow asks the pricing service
for the line's price - that is an *activity*: it talks to the outside world - keeps the
priced lines, and answers with the quote. While it runs, anyone can ask it how far it got
with a *Query*.

Complete the four TODOs, save the file, and run the notebook's check cell again (it
re-reads this file). Workflow code must live in a module like this one, never in a
notebook cell: the worker's sandbox re-imports it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

PRICES_CENTS = {"ceramic-mug": 1200, "espresso-beans": 1450, "burr-grinder": 12900}
"""The pricing service's list. An activity may read anything; a workflow may not."""

PRICING_TAKES = 0.3
"""Seconds the pricing service takes to answer (long enough to Query a running quote)."""


@dataclass
class QuoteLine:
    sku: str
    quantity: int
    line_cents: int = 0


@dataclass
class QuoteRequest:
    customer: str
    lines: list[QuoteLine]


@dataclass
class Quote:
    customer: str
    lines: list[QuoteLine]
    total_cents: int


# TODO 1: make this function an activity: decorate it with @activity.defn.
async def price_line(line: QuoteLine) -> QuoteLine:
    """Ask the pricing service for one line's price."""
    await asyncio.sleep(PRICING_TAKES)
    return QuoteLine(line.sku, line.quantity, PRICES_CENTS[line.sku] * line.quantity)


# TODO 2: make this class a workflow (@workflow.defn) and `run` its entry point
#         (@workflow.run).
class QuoteWorkflow:
    def __init__(self) -> None:
        self._priced: list[QuoteLine] = []

    async def run(self, request: QuoteRequest) -> Quote:
        # TODO 3: price every line of the request with the activity, one after the other:
        #     priced = await workflow.execute_activity(
        #         price_line, line, start_to_close_timeout=timedelta(seconds=5))
        # keep each priced line in self._priced, and return
        # Quote(request.customer, self._priced, <the sum of their line_cents>).
        raise NotImplementedError

    # TODO 4: a Query named `priced` (a plain method decorated with @workflow.query)
    #         that returns self._priced: the lines priced so far.

