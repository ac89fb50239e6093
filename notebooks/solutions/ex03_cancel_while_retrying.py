"""Worked solution, exercise of 03_signals_queries_and_cancel (b): cancel while retrying.

Poll ``env.status`` - the ``status`` Query, with the running step's live retry state that
the server keeps in its pending-activity record - until the charge_payment step says
``retrying``, then cancel with the ``cancel_order`` Update (``env.cancel`` without
``signal=True``). Its validator accepts the cancel because the order is not settled; the
workflow stops the payment step, releases the stock and voids the payment, so the
customer pays nothing. A fixed ``sleep`` instead of polling would be too early for one
order and too late for another; the Signal would never say whether the cancel was taken.
"""

import asyncio

from orderflow.models import StepName, StepStatus


async def cancel_while_retrying(env, order_id):
    while True:
        status = await env.status(order_id)
        if status.step(StepName.CHARGE_PAYMENT).status == StepStatus.RETRYING:
            return await env.cancel(order_id, "the payment gateway is down")
        await asyncio.sleep(0.1)
