"""The errors a caller of :class:`~orderflow.orders.Orders` is expected to handle and show.

One small family, so each door maps it once: the HTTP API to status codes
(:mod:`orderflow.api.app`), the CLI to one-line messages, the consoles to a message in the
page or widget. Anything else escaping ``Orders`` is a bug and is reported as one.
"""

from __future__ import annotations


class OrderError(Exception):
    """Base of the expected errors (each says in one sentence what is wrong)."""


class OrderNotFoundError(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class OrderConflictError(OrderError):
    """The order id exists with a different request, or was used by an earlier order."""


class NotCancellableError(OrderError):
    """The cancel arrived after the order was settled (the Update validator said no)."""


class NotAwaitingReviewError(OrderError):
    """A review decision for an order that is not waiting for one (the validator said no)."""


class InvalidOrderError(OrderError):
    """The request is well-formed but cannot be accepted (unknown product, faults off)."""


class TemporalUnavailableError(OrderError):
    """Temporal did not answer at the configured address (or not in time)."""


class NoWorkerError(OrderError):
    """The order needs a worker to answer (an Update) and none polls its task queue."""
