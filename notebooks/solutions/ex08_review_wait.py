"""Worked solution, exercise of 08_orders_that_wait: wait for a decision, with a timeout.

``workflow.wait_condition(fn, timeout=...)`` re-checks ``fn`` after every activation (each
Update, Signal, activity result, ...) and returns as soon as it is true. The timeout is a
durable timer: it is recorded in the history (``TimerStarted``), kept by the Temporal
server (so it fires even while no worker runs) and cancelled (``TimerCanceled``) when the
decision comes first. When it fires first, ``wait_condition`` raises the built-in
``TimeoutError`` (``asyncio.TimeoutError`` is the same class since Python 3.11) - not
``temporalio.exceptions.TimeoutError``, which is for activity and workflow timeouts. Left
uncaught, it would fail the workflow.
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


@workflow.defn
class ReviewGate:
    @workflow.init
    def __init__(self, request: GateRequest) -> None:
        self.decision: ReviewRequest | None = None

    @workflow.run
    async def run(self, request: GateRequest) -> str:
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=request.timeout
            )
        except TimeoutError:
            return NO_DECISION
        assert self.decision is not None
        return APPROVED if self.decision.decision == ReviewDecision.APPROVE else REJECTED

    @workflow.update(name=GATE_UPDATE)
    def review(self, decision: ReviewRequest) -> str:
        self.decision = decision
        return f"{decision.decision.value} by {decision.reviewer}"

    @review.validator
    def validate_review(self, decision: ReviewRequest) -> None:
        if self.decision is not None:
            raise ValueError(f"already decided by {self.decision.reviewer}")
