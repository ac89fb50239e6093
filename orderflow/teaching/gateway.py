"""A card gateway whose failures you choose: the activity of tutorial 02's exercise.

The exercise asks for the options of one activity call (timeouts and a RetryPolicy); this
is the activity it calls. How an attempt behaves depends only on the charge's
``behaviour`` and the attempt number, so a check can play each situation on demand:

- ``ok``: answers after a short wait (:data:`WORK_SECONDS`), heartbeating meanwhile.
- ``flaky``: the first two attempts fail with ``GatewayUnavailable``; the third works.
- ``down``: every attempt fails with ``GatewayUnavailable``.
- ``declined``: fails with ``CardDeclined``. The gateway does not flag it non-retryable
  (many real ones don't): deciding that a decline is final is the caller's job, in its
  RetryPolicy's ``non_retryable_error_types``.
- ``silent``: the first attempt heartbeats once and then hangs without a word (a stuck
  connection); only a heartbeat timeout notices that quickly. Later attempts work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orderflow.models import ErrorType

GATEWAY_UNAVAILABLE = "GatewayUnavailable"
"""Error type of a gateway that cannot be reached right now: worth retrying."""

CARD_DECLINED = ErrorType.CARD_DECLINED.value
"""Error type of a declined card: retrying will not change the answer."""

WORK_SECONDS = 0.3
"""How long a normal attempt takes (heartbeating every :data:`HEARTBEAT_EVERY`)."""

HEARTBEAT_EVERY = 0.1

SILENCE_SECONDS = 60.0
"""How long a ``silent`` attempt hangs: far longer than any sensible timeout."""

FLAKY_FAILURES = 2


class Behaviour(StrEnum):
    OK = "ok"
    FLAKY = "flaky"
    DOWN = "down"
    DECLINED = "declined"
    SILENT = "silent"


@dataclass
class CardCharge:
    """One payment: an id, an amount, and (for the exercise) how the gateway behaves."""

    charge_id: str
    amount_cents: int
    behaviour: Behaviour = Behaviour.OK


@activity.defn
async def charge_card(charge: CardCharge) -> str:
    """Charge the card at the gateway; the behaviour of each attempt is in ``charge``."""
    attempt = activity.info().attempt
    if charge.behaviour == Behaviour.SILENT and attempt == 1:
        activity.heartbeat("connecting")
        await asyncio.sleep(SILENCE_SECONDS)  # no heartbeat from here on
        raise ApplicationError("the gateway never answered", type=GATEWAY_UNAVAILABLE)
    elapsed = 0.0
    while elapsed < WORK_SECONDS:
        activity.heartbeat(elapsed)
        await asyncio.sleep(HEARTBEAT_EVERY)
        elapsed += HEARTBEAT_EVERY
    if charge.behaviour == Behaviour.DECLINED:
        raise ApplicationError("card declined by the issuer", type=CARD_DECLINED)
    if charge.behaviour == Behaviour.DOWN or (
        charge.behaviour == Behaviour.FLAKY and attempt <= FLAKY_FAILURES
    ):
        raise ApplicationError(
            f"payment gateway unavailable (attempt {attempt})", type=GATEWAY_UNAVAILABLE
        )
    return f"charged {charge.amount_cents / 100:.2f} for {charge.charge_id} (attempt {attempt})"
