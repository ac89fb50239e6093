"""Worked solution, exercise of 01_first_workflow: your first workflow and activity.

- ``price_line`` is an activity: the only place that talks to the pricing service. Its
  result is recorded in the workflow's history, so a replay reads it instead of asking
  the service again.
- ``QuoteWorkflow.run`` decides what happens, in order, and does nothing else: every
  price comes from an activity, every activity call has a ``start_to_close_timeout``
  (how long one attempt may take; Temporal retries a failed attempt on its own).
- ``priced`` is a Query: it reads the workflow's state and changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

PRICES_CENTS = {"ceramic-mug": 1200, "espresso-beans": 1450, "burr-grinder": 12900}
PRICING_TAKES = 0.3


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


@activity.defn
async def price_line(line: QuoteLine) -> QuoteLine:
    """Ask the pricing service for one line's price."""
    await asyncio.sleep(PRICING_TAKES)
    return QuoteLine(line.sku, line.quantity, PRICES_CENTS[line.sku] * line.quantity)


@workflow.defn
class QuoteWorkflow:
    def __init__(self) -> None:
        self._priced: list[QuoteLine] = []

    @workflow.run
    async def run(self, request: QuoteRequest) -> Quote:
        for line in request.lines:
            priced = await workflow.execute_activity(
                price_line, line, start_to_close_timeout=timedelta(seconds=5)
            )
            self._priced.append(priced)
        return Quote(request.customer, self._priced, sum(p.line_cents for p in self._priced))

    @workflow.query
    def priced(self) -> list[QuoteLine]:
        return self._priced
