"""Exercise of 02_retries_and_failures: timeouts and a retry policy at the call site.

``PaymentWorkflow`` charges a card through the gateway's ``charge_card`` activity
(``orderflow/teaching/gateway.py``). The gateway

- answers within a second, heartbeating while it works;
- is sometimes unavailable for a moment (error type ``GatewayUnavailable``: worth retrying);
- sometimes declines the card (``CARD_DECLINED``: retrying will not change the answer -
  but the gateway does not say so, your policy has to);
- sometimes goes silent: it stops heartbeating and never answers.

Give the activity call its options (the two TODOs), save, and run the check cell again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from orderflow.teaching.gateway import CARD_DECLINED, CardCharge, charge_card


@workflow.defn
class PaymentWorkflow:
    @workflow.run
    async def run(self, charge: CardCharge) -> str:
        return await workflow.execute_activity(
            charge_card,
            charge,
            # TODO 1: timeouts. One attempt may take at most 10 s (start_to_close_timeout),
            #         and is given up after 2 s without a heartbeat (heartbeat_timeout).
            # TODO 2: retry_policy=RetryPolicy(...): the first retry 1 s after a failure,
            #         at most 3 attempts in all, and never a retry for CARD_DECLINED.
        )
