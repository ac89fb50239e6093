"""Worked solution, exercise of 03_signals_queries_and_cancel: Query, Signal, Update.

- ``items`` is a Query: a plain (not ``async``) method that returns state and changes
  nothing; it is not recorded in the history.
- ``add_item`` is a Signal: recorded in the history, then applied; the sender gets no
  answer, so it cannot be told "no".
- ``checkout`` is an Update: the caller waits for its answer. Its validator runs first,
  may only read state, and refuses by raising: a refused Update leaves no trace in the
  history, the caller gets the error at once. An accepted one is recorded, then handled.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow


@dataclass
class CartItem:
    sku: str
    quantity: int = 1


@workflow.defn
class CartWorkflow:
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
    def _refuse_an_empty_cart(self) -> None:
        if not self._items:
            raise ValueError("the cart is empty")
