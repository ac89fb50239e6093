"""Watching an order as it runs: ``orderflow order create --wait`` and ``order status --watch``.

A fault plan's retries are the point of the demo, so the CLI shows them while they happen:
each step's status, attempts, last error and when Temporal starts the next attempt (from
the pending activity Temporal keeps for a retrying step, see :meth:`Orders.status`). The
order is polled through the ``Orders`` door until it is final.

On a terminal the view is a Rich ``Live`` table redrawn in place (with a countdown to the
next retry); piped into a file or another program it is plain text, one line per change,
so logs and tests read the same story without escape codes. Stopping the watch (Ctrl-C)
stops only the watching: the order carries on in Temporal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orderflow.errors import NoWorkerError
from orderflow.models import OrderStatus, StepState, StepStatus
from orderflow.orders import Orders

POLL_EVERY = 0.5
"""Seconds between two looks at the order (a describe and a Query each)."""

STATE_STYLE = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow"}
STEP_STYLE = {
    StepStatus.RUNNING: "cyan",
    StepStatus.RETRYING: "magenta",
    StepStatus.COMPLETED: "green",
    StepStatus.FAILED: "red",
    StepStatus.CANCELLED: "yellow",
    StepStatus.COMPENSATED: "yellow",
}

Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StepView:
    """What a person watching can see of a step; a change of any field is worth a line."""

    status: StepStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, step: StepState) -> StepView:
        return cls(step.status, step.attempts, step.last_error, step.next_attempt_at)


def next_retry(step: StepState, now: datetime) -> str:
    """``in 1.5 s`` until the step's next attempt (``now`` once it is due); empty if none."""
    if step.status != StepStatus.RETRYING or step.next_attempt_at is None:
        return ""
    seconds = (step.next_attempt_at - now).total_seconds()
    return f"in {seconds:.1f} s" if seconds > 0.05 else "now"


def step_line(step: StepState, now: datetime) -> str:
    """One plain line for a step, e.g. ``charge_payment: retrying, attempt 2 in 1.0 s
    (last error: TransientError: gateway timeout)``."""
    name, status = step.name.value, step.status
    if status == StepStatus.RETRYING:
        when = next_retry(step, now)
        text = f"{name}: retrying, attempt {step.attempts}" + (f" {when}" if when else "")
    elif status == StepStatus.RUNNING:
        text = f"{name}: running" + (f", attempt {step.attempts}" if step.attempts else "")
    elif step.attempts:
        plural = "attempt" if step.attempts == 1 else "attempts"
        text = f"{name}: {status.value} after {step.attempts} {plural}"
    else:
        text = f"{name}: {status.value}"
    if step.last_error and status != StepStatus.COMPLETED:
        text += f" (last error: {step.last_error})"
    return text


def state_line(status: OrderStatus) -> str:
    text = f"order {status.order_id}: {status.state.value}"
    if status.current_step is not None and not status.state.is_final:
        text += f" at {status.current_step.value}"
    return text


class PlainReport:
    """One line per change: a new order state, or a step whose status, attempts, last error
    or next retry changed. Steps still pending are not mentioned until they start."""

    def __init__(self, console: Console, now: Now = _utc_now) -> None:
        self.console = console
        self.now = now
        self.state: tuple[str, str | None] | None = None
        self.steps: dict[str, StepView] = {}

    def show(self, status: OrderStatus) -> None:
        state = (status.state.value, status.current_step.value if status.current_step else None)
        new_state = state != self.state
        self.state = state
        if new_state and not status.state.is_final:
            self._line(state_line(status))
        for step in status.steps:
            view = StepView.of(step)
            seen = self.steps.get(step.name.value)
            if view == seen or (seen is None and step.status == StepStatus.PENDING):
                continue
            self.steps[step.name.value] = view
            self._line("  " + step_line(step, self.now()))
        if new_state and status.state.is_final:  # the last word comes after the steps
            self._line(state_line(status))

    def note(self, text: str) -> None:
        self._line(text)

    def _line(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.console.print(f"{stamp} {text}", markup=False, highlight=False, soft_wrap=True)


def status_view(status: OrderStatus, now: datetime, note: str = "") -> RenderableType:
    """The live table: the order's state, then a row per step with its retry state."""
    colour = STATE_STYLE.get(status.state.value, "cyan")
    header = Text.assemble(
        ("order ", ""), (status.order_id, "bold"), (": ", ""), (status.state.value, colour)
    )
    if status.total is not None:
        header.append(f"  total {status.total} {status.currency}")
    table = Table("step", "status", "attempts", "next retry", "last error")
    for step in status.steps:
        table.add_row(
            step.name.value,
            Text(step.status.value, style=STEP_STYLE.get(step.status, "")),
            str(step.attempts),
            next_retry(step, now),
            Text(step.last_error or "", overflow="fold"),
        )
    footer = Text(note or "watching; Ctrl-C stops watching (the order carries on)", "dim")
    return Group(header, table, footer)


class LiveReport:
    """A Rich ``Live`` view redrawn a few times a second (the countdown moves between polls)."""

    def __init__(self, console: Console, now: Now = _utc_now) -> None:
        self.now = now
        self.status: OrderStatus | None = None
        self.message = ""
        self.live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=True,  # the caller prints the final status once it is over
        )

    def _render(self) -> RenderableType:
        if self.status is None:
            return Text(self.message or "waiting for the order...", "dim")
        return status_view(self.status, self.now(), self.message)

    def show(self, status: OrderStatus) -> None:
        self.status, self.message = status, ""
        self.live.refresh()

    def note(self, text: str) -> None:
        self.message = text
        self.live.refresh()


async def watch_order(
    orders: Orders,
    order_id: str,
    console: Console,
    *,
    live: bool | None = None,
    every: float = POLL_EVERY,
    timeout: float | None = None,
) -> OrderStatus:
    """Show the order's progress on ``console`` until it is final; return its final status.

    ``live``: the Rich view (default: when ``console`` is a terminal) or plain lines.
    ``timeout`` seconds (default: none) raise ``TimeoutError``.
    """
    use_live = console.is_terminal if live is None else live
    report: PlainReport | LiveReport = LiveReport(console) if use_live else PlainReport(console)
    deadline = None if timeout is None else time.monotonic() + timeout
    if isinstance(report, LiveReport):
        report.live.start()
    try:
        waiting_for_worker = False
        while True:
            try:
                status = await orders.status(order_id)
            except NoWorkerError as error:
                if not waiting_for_worker:  # say it once, keep watching: a worker may start
                    report.note(str(error))
                    waiting_for_worker = True
            else:
                waiting_for_worker = False
                report.show(status)
                if status.state.is_final:
                    break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"order {order_id} is not final after {timeout:g} s")
            await asyncio.sleep(every)
    finally:
        if isinstance(report, LiveReport):
            report.live.stop()
    # The run may still be closing: its result holds the final word (and recorded attempts).
    return await orders.wait(order_id, timeout=30)
