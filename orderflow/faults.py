"""Deterministic failure injection for activities (a teaching and demo knob).

A :class:`~orderflow.models.FaultSpec` travels in the workflow input, so the same order
fails the same way on every run and every worker: notebooks stay reproducible under nbval
and a replay sees the same history. Whether an attempt fails depends only on the spec,
the order id, the step and the attempt number, never on wall-clock time or global state.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orderflow.models import ErrorType, FaultSpec, StepName

# What each step's simulated failures look like to the workflow and the UI.
TRANSIENT_MESSAGES: dict[StepName, str] = {
    StepName.RESERVE_INVENTORY: "inventory service unavailable",
    StepName.CHARGE_PAYMENT: "payment gateway timed out",
    StepName.SHIP: "warehouse scanner offline",
    StepName.NOTIFY_CUSTOMER: "email service unavailable",
}
PERMANENT_ERRORS: dict[StepName, tuple[ErrorType, str]] = {
    StepName.RESERVE_INVENTORY: (ErrorType.OUT_OF_STOCK, "warehouse reports the items unavailable"),
    StepName.CHARGE_PAYMENT: (ErrorType.CARD_DECLINED, "card declined by the issuer"),
    StepName.SHIP: (ErrorType.SHIPMENT_REFUSED, "the carrier refused the parcel"),
    StepName.NOTIFY_CUSTOMER: (ErrorType.NOTIFICATION_REJECTED, "customer address rejected"),
}

HEARTBEAT_EVERY = 0.5
"""Seconds between heartbeats while a simulated latency runs (lets cancellation in)."""


class FaultsDisabledError(ValueError):
    """Raised when a fault plan arrives but ``ORDERFLOW_ALLOW_FAULTS`` is false."""


def attempt_fails(spec: FaultSpec, order_id: str, step: StepName, attempt: int) -> bool:
    """Whether this attempt is scheduled to fail transiently (pure function of its inputs)."""
    if attempt <= effective_fail_first_n(spec):
        return True
    if spec.fail_rate > 0:
        draw = random.Random(f"{spec.seed}:{order_id}:{step.value}:{attempt}").random()
        return draw < spec.fail_rate
    return False


def effective_fail_first_n(spec: FaultSpec) -> int:
    """A ``timeout`` fault with no ``fail_first_n`` hangs on the first attempt only."""
    return max(spec.fail_first_n, 1 if spec.timeout else 0)


async def apply(spec: FaultSpec | None, order_id: str, step: StepName) -> None:
    """Inject the fault planned for this activity attempt, or return to let it run.

    Raises the step's non-retryable business error for ``permanent``, a retryable error for
    a failing attempt, or hangs past the start-to-close timeout for ``timeout``.
    """
    if spec is None:
        return
    info = activity.info()
    if spec.latency:
        await _sleep_heartbeating(spec.latency)
    if spec.permanent:
        error_type, message = PERMANENT_ERRORS[step]
        raise ApplicationError(message, type=error_type.value, non_retryable=True)
    if not attempt_fails(spec, order_id, step, info.attempt):
        return
    if spec.timeout:
        # Hang without heartbeating until the server has timed this attempt out. Its
        # result would be ignored anyway; raising keeps a late zombie from acting.
        limit = info.start_to_close_timeout or timedelta(seconds=10)
        await asyncio.sleep(limit.total_seconds() + 0.5)
        raise ApplicationError(
            f"{step.value} attempt {info.attempt} hung past its {limit.total_seconds():g} s "
            "start-to-close timeout",
            type=ErrorType.SIMULATED_TIMEOUT.value,
        )
    raise ApplicationError(
        f"{TRANSIENT_MESSAGES[step]} (simulated, attempt {info.attempt})",
        type=ErrorType.TRANSIENT.value,
    )


async def _sleep_heartbeating(seconds: float) -> None:
    """Sleep, heartbeating so a cancel request reaches the activity promptly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        activity.heartbeat()
        await asyncio.sleep(min(HEARTBEAT_EVERY, left))
