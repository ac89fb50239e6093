"""Worked solution, exercise of 07_testing_workflows: the test that catches the stock leak.

A declined card fails the order, and the saga must give back the stock that the first
step reserved. Asserting only ``state == FAILED`` passes on the broken workflow too; the
assertion that matters is on the stock, read from the real store after the order ended.
"""

from orderflow.models import OrderState


async def test_declined_card_releases_stock(orders):
    sku = await orders.product(stock=5)

    final = await orders.place(sku, quantity=2, faults={"charge_payment": {"permanent": True}})

    assert final.state == OrderState.FAILED
    assert await orders.stock(sku) == 5, "the reserved stock must be released"
