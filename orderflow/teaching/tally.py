"""``SpendTallyWorkflow``: a workflow that lives as long as its customer, by continue-as-new.

Tutorial 08's long-lived workflow. It keeps one customer's running spend: one Signal
``add`` per paid order, forever. Every Signal adds events to the history, and a history
cannot grow without bound (the server suggests continuing at 4,096 events or 4 MiB by
default, warns at 10,240 events or 10 MiB and terminates the run at 51,200 events or
50 MiB). So every ``every`` Signals - or earlier, when the server suggests it
(``workflow.info().is_continue_as_new_suggested()``) - the workflow **continues as new**:
the run closes as *ContinuedAsNew* and a new run with the same workflow id starts from
the state it was handed, with a fresh history of a few events.

Before it continues it waits for its message handlers to finish
(``workflow.all_handlers_finished``), and the Signals that reach a run after it decided
are not lost: the server refuses to close a run that has unprocessed events and hands
them to the workflow first. Nothing here is registered by the service; the notebook runs
it on a worker of its own (:func:`orderflow.teaching.waits.start_tally_worker`).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field
from temporalio import workflow

TALLY_WORKFLOW = "SpendTallyWorkflow"
ADD_SIGNAL = "add"
CLOSE_SIGNAL = "close"
READING_QUERY = "reading"


class Tally(BaseModel):
    """What one run hands the next: the whole state of the workflow, and small."""

    customer_id: str
    total: Decimal = Decimal("0")
    events: int = 0
    """Signals counted since the first run."""
    run: int = 1
    """Which run of the chain this is (1 for the first)."""
    every: int = Field(20, ge=1, le=10_000)
    """Signals per run before it continues as new."""


class TallyReading(BaseModel):
    """The ``reading`` Query: the tally, and the history of the current run as the
    workflow itself sees it (``workflow.info()``, as of its last workflow task)."""

    total: Decimal
    events: int
    run: int
    events_this_run: int
    history_length: int
    history_bytes: int
    continue_as_new_suggested: bool


@workflow.defn(name=TALLY_WORKFLOW)
class SpendTallyWorkflow:
    @workflow.init
    def __init__(self, tally: Tally) -> None:
        self._tally = tally.model_copy()
        self._this_run = 0
        self._closing = False

    @workflow.run
    async def run(self, tally: Tally) -> Tally:
        await workflow.wait_condition(
            lambda: (
                self._closing
                or self._this_run >= self._tally.every
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._closing:
            return self._tally
        workflow.continue_as_new(self._tally.model_copy(update={"run": self._tally.run + 1}))

    @workflow.signal(name=ADD_SIGNAL)
    def add(self, amount: Decimal) -> None:
        """One paid order's amount."""
        self._tally.total += amount
        self._tally.events += 1
        self._this_run += 1

    @workflow.signal(name=CLOSE_SIGNAL)
    def close(self) -> None:
        """The customer left: finish with the tally as the result."""
        self._closing = True

    @workflow.query(name=READING_QUERY)
    def reading(self) -> TallyReading:
        info = workflow.info()
        return TallyReading(
            total=self._tally.total,
            events=self._tally.events,
            run=self._tally.run,
            events_this_run=self._this_run,
            history_length=info.get_current_history_length(),
            history_bytes=info.get_current_history_size(),
            continue_as_new_suggested=info.is_continue_as_new_suggested(),
        )
