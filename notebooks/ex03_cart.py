"""Exercise of 03_signals_queries_and_cancel: talk to a running workflow.

A shopping cart that lives as long as the customer shops. Items arrive as *Signals* (the
shop does not wait for an answer), anyone can look inside with a *Query*, and checkout is
an *Update*: the caller gets an answer - or a clear "no" from its *validator*, before
anything is recorded.

Complete the three TODOs, save, and run the notebook's check cell again.
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

    # TODO 1: a Query `items` (@workflow.query) that returns self._items.

    # TODO 2: a Signal `add_item(self, item: CartItem) -> None` (@workflow.signal) that
    #         adds item.quantity units of item.sku to self._items.

    # TODO 3: an Update `checkout(self) -> int` (@workflow.update) that ends the shopping
    #         (self._checked_out = True) and answers with the number of units in the cart;
    #         and its validator (@checkout.validator, same arguments, returns None) that
    #         refuses an empty cart: raise ValueError("the cart is empty").
