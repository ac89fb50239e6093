"""Worked solution, exercise of 01_first_order: place an order and return its final status.

The trap: ``env.status()`` answers at once with the order as it is *now* (a Query), which
is usually still PROCESSING. The final status is the workflow's result: wait for it.
"""


async def place_and_wait(env, sku, quantity):
    order_id = await env.place_order(sku, quantity)
    return await env.wait(order_id)
