"""Worked solution, exercise of 03_signals_queries_and_cancel: cancel while retrying.

Poll the ``status`` Query (it reads the workflow's state without changing it) until the
charge_payment step says ``retrying``, then cancel with the Update: the validator accepts
it because the order is not settled, the workflow stops the payment step, releases the
stock and voids the payment, so the customer pays nothing.
"""

import asyncio

from orderflow.models import StepName, StepStatus


async def cancel_while_retrying(env, order_id):
    while True:
        status = await env.status(order_id)
        if status.step(StepName.CHARGE_PAYMENT).status == StepStatus.RETRYING:
            return await env.cancel(order_id, "the payment gateway is down")
        await asyncio.sleep(0.1)
