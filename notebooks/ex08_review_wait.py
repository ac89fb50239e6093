"""Exercise of 08_orders_that_wait: wait for the reviewer's decision - but not forever.

Edit this file, save it, and run the check cell of the notebook again.

``ReviewGate`` is the order's review on its own: the ``review`` Update below records a
person's decision (approve or reject). ``run`` must wait until that decision arrives, or
until ``request.timeout`` has passed, whichever comes first, and then return

- ``APPROVED`` or ``REJECTED`` when a decision arrived in time;
- ``NO_DECISION`` when the timeout passed first (the order would then be cancelled).

Wait the durable way: ``await workflow.wait_condition(<a function>, timeout=...)`` returns
as soon as the function is true, and records one timer that Temporal keeps, whatever
happens to the worker. Find out what it raises when the timeout passes, and catch it.
Workflow code must live in a module like this one (the sandbox re-imports it), never in a
notebook cell.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orderflow.models import ReviewDecision, ReviewRequest
    from orderflow.teaching.review_gate import (
        APPROVED,
        GATE_UPDATE,
        NO_DECISION,
        REJECTED,
        GateRequest,
    )

__all__ = ["APPROVED", "NO_DECISION", "REJECTED", "ReviewDecision", "ReviewGate"]


@workflow.defn
class ReviewGate:
    @workflow.init
    def __init__(self, request: GateRequest) -> None:
        self.decision: ReviewRequest | None = None

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        # TODO: wait until self.decision is set (by the review Update), at most
        # request.timeout; return APPROVED or REJECTED - or NO_DECISION if time ran out.
        raise NotImplementedError

    @workflow.update(name=GATE_UPDATE)
    def review(self, decision: ReviewRequest) -> str:
        self.decision = decision
        return f"{decision.decision.value} by {decision.reviewer}"

    @review.validator
    def validate_review(self, decision: ReviewRequest) -> None:
        if self.decision is not None:
            raise ValueError(f"already decided by {self.decision.reviewer}")
