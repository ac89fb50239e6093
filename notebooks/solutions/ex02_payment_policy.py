"""Worked solution, exercise of 02_retries_and_failures: the call site's options.

- ``start_to_close_timeout`` bounds one attempt: after 10 s the server gives up on it and,
  if the policy allows, schedules the next one.
- ``heartbeat_timeout`` notices a silent attempt much sooner: the gateway heartbeats while
  it works, so 2 s without a heartbeat means the attempt (or its worker) is gone.
- ``maximum_attempts`` counts every attempt, the first one included: 3 means the first
  try and two retries. ``initial_interval`` is the wait before the first retry;
  ``backoff_coefficient`` multiplies it for each further one (1 s, then 2 s).
- ``non_retryable_error_types`` names the errors that no retry can fix. The gateway raises
  ``CardDeclined`` as an ordinary (retryable) error; listing its type here makes the
  first decline final.
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
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_attempts=3,
                non_retryable_error_types=[CARD_DECLINED],
            ),
        )
