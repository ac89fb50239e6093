"""``OrderConsole``: an ipywidgets order console that lives next to the worker in a kernel.

A create form (product from the store's catalog, quantity, customer, step delay, a fault
plan per step), an orders list that refreshes itself, a status panel for the selected
order, a Cancel button that is enabled only while the order can still be cancelled, and
the selected order's retry timeline.

Widget callbacks are synchronous and run on the kernel's event loop, the same loop the
background worker runs on. So a handler never waits: it schedules the coroutine with
:meth:`OrderConsole._schedule`, which keeps a reference to the task (an unreferenced task
can be garbage-collected mid-flight) and shows any error as a message in the widget rather
than a traceback. Tests and notebook cells can ``await console.last_task``.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import logging
import re
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from pydantic import ValidationError
from temporalio.service import RPCError

from orderflow.errors import OrderError
from orderflow.links import workflow_url
from orderflow.models import (
    FaultPlan,
    OrderRequest,
    OrderState,
    OrderStatus,
    ReviewDecision,
    ReviewRequest,
    StepName,
)
from orderflow.orders import Orders
from orderflow.supervisor import WorkerControlError

if TYPE_CHECKING:
    from orderflow.lab.env import NotebookEnv
    from orderflow.lab.workers_panel import WorkerPanel
    from orderflow.supervisor import WorkerSupervisor

logger = logging.getLogger(__name__)

FAULT_PRESETS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "2 transient failures": {"fail_first_n": 2},
    "times out once": {"timeout": True},
    "permanent error": {"permanent": True},
    "slow (3 s)": {"latency": 3.0},
}
"""The fault plans a learner can pick per step (see :class:`orderflow.models.FaultSpec`)."""

REFRESH_EVERY = 1.0
"""Seconds between automatic refreshes of the list, the status panel and the chart."""

ORDERS_SHOWN = 20


def describe_error(error: BaseException) -> str:
    """One line a person can act on, for any error a console action can meet."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "input"
        return f"Invalid {where}: {first.get('msg', 'invalid value')}"
    if isinstance(error, OrderError | WorkerControlError):
        return str(error)
    if isinstance(error, RPCError):
        return f"Temporal refused the request: {error.message}"
    if isinstance(error, RuntimeError) and "connect" in str(error).lower():
        return f"Temporal is not reachable: {str(error)[:160]}"
    return f"{type(error).__name__}: {error}"


class OrderConsole:
    """Build with :meth:`open` (loads the catalog and starts refreshing) and display it."""

    def __init__(
        self,
        orders: Orders,
        *,
        refresh_every: float | None = REFRESH_EVERY,
        ui_url: str | None = None,
        workers: WorkerSupervisor | None = None,
    ) -> None:
        self.orders = orders
        self.workers = workers
        """The notebook's worker processes, if any: the console shows their controls."""
        self.workers_panel: WorkerPanel | None = None
        self.refresh_every = refresh_every
        self.ui_url = ui_url
        """Base of Temporal UI links (:mod:`orderflow.links`); None: no links."""
        self.selected_status: OrderStatus | None = None
        self.last_task: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._chart_key: tuple[Any, ...] | None = None
        self._updating_list = False
        self._refresh_lock = asyncio.Lock()
        self._placed: dict[str, OrderState] = {}
        """State the door answered when an order was placed here (until visibility lists it)."""
        self.selected: str | None = None
        """The order shown in the status panel (the source of truth for the list's value)."""
        self._build()

    @classmethod
    async def open(
        cls, env: NotebookEnv, *, refresh_every: float | None = REFRESH_EVERY
    ) -> OrderConsole:
        """A console on the notebook env's client, store and task queue, ready to show
        (with Stop / Kill / Start for the env's worker processes, if it runs some)."""
        console = cls(
            env.orders, refresh_every=refresh_every, ui_url=env.ui_url, workers=env.workers
        )
        await console.start()
        return console

    # --- widgets ----------------------------------------------------------------------

    def _build(self) -> None:
        style = {"description_width": "110px"}
        self.product = widgets.Dropdown(description="Product", style=style)
        self.quantity = widgets.BoundedIntText(
            1, min=1, max=1000, description="Quantity", style=style
        )
        self.customer = widgets.Text("ada", description="Customer id", style=style)
        self.order_id = widgets.Text(
            "", description="Order id", placeholder="(generated)", style=style
        )
        self.step_delay = widgets.BoundedFloatText(
            0.0, min=0.0, max=60.0, step=0.5, description="Step delay (s)", style=style
        )
        self.faults = {
            step: widgets.Dropdown(
                options=list(FAULT_PRESETS), value="none", description=step.value, style=style
            )
            for step in StepName
            if step.value in FaultPlan.model_fields
        }
        self.create_button = widgets.Button(
            description="Place order", button_style="primary", icon="shopping-cart"
        )
        self.message = widgets.HTML("")
        self.order_list = widgets.Select(
            options=[], rows=8, description="Orders", layout=widgets.Layout(width="100%")
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.status_panel = widgets.HTML("<i>Select an order.</i>")
        self.cancel_reason = widgets.Text("changed my mind", description="Reason")
        self.cancel_door = widgets.ToggleButtons(
            options=[("Update", "update"), ("Signal", "signal")],
            value="update",
            description="Cancel by",
            tooltips=["answers, refused when too late", "fire and forget, ignored when too late"],
        )
        self.reviewer = widgets.Text("reviewer", description="Reviewer")
        self.approve_button = widgets.Button(
            description="Approve", button_style="success", disabled=True
        )
        self.reject_button = widgets.Button(
            description="Reject", button_style="warning", disabled=True
        )
        self.cancel_button = widgets.Button(
            description="Cancel order", button_style="danger", disabled=True
        )
        self.chart = widgets.Output(layout=widgets.Layout(min_height="120px"))

        self.create_button.on_click(lambda _: self._schedule(self.create()))
        self.cancel_button.on_click(lambda _: self._schedule(self.cancel_selected()))
        self.approve_button.on_click(
            lambda _: self._schedule(self.review_selected(ReviewDecision.APPROVE))
        )
        self.reject_button.on_click(
            lambda _: self._schedule(self.review_selected(ReviewDecision.REJECT))
        )
        self.refresh_button.on_click(lambda _: self._schedule(self.refresh()))
        self.order_list.observe(self._on_select, names="value")

        form = widgets.VBox(
            [
                widgets.HTML("<b>New order</b>"),
                self.product,
                self.quantity,
                self.customer,
                self.order_id,
                self.step_delay,
                widgets.HTML("<b>Fault plan per step</b>"),
                *self.faults.values(),
                self.create_button,
            ],
            layout=widgets.Layout(width="380px"),
        )
        detail = widgets.VBox(
            [
                widgets.HBox([self.order_list, self.refresh_button]),
                self.status_panel,
                widgets.HBox([self.cancel_reason, self.cancel_door, self.cancel_button]),
                widgets.HBox([self.reviewer, self.approve_button, self.reject_button]),
                self.chart,
            ],
            layout=widgets.Layout(flex="1"),
        )
        parts: list[widgets.Widget] = [widgets.HBox([form, detail]), self.message]
        if self.workers is not None:
            from orderflow.lab.workers_panel import WorkerPanel

            self.workers_panel = WorkerPanel(
                self.workers, schedule=self._schedule, on_done=self.show_info
            )
            parts.append(self.workers_panel.widget)
        self.widget = widgets.VBox(parts)

    def _on_select(self, change: Any) -> None:
        if not self._updating_list:  # a person picked an order (not our own list update)
            self.selected = change["new"]
            self.selected_status = None
            self._schedule(self.refresh_selected())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # --- scheduling -------------------------------------------------------------------

    def _schedule(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a handler's coroutine on the kernel loop without blocking; keep the task."""
        task = asyncio.ensure_future(self._guarded(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.last_task = task
        return task

    async def _guarded(self, coroutine: Awaitable[Any]) -> Any:
        try:
            return await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.show_error(describe_error(error))
            logger.info("console action failed: %s", error)
            return None

    @property
    def message_text(self) -> str:
        """The message line as plain text (what a person reads in the widget)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.message.value)).strip()

    def show_error(self, text: str) -> None:
        self.message.value = f'<span style="color:#c62828">&#9888; {html.escape(text)}</span>'

    def show_info(self, text: str) -> None:
        self.message.value = f'<span style="color:#2e7d32">{html.escape(text)}</span>'

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Load the catalog, show the orders and keep refreshing in the background."""
        await self._guarded(self.load_products())
        await self._guarded(self.refresh())
        if self.refresh_every and (self._refresher is None or self._refresher.done()):
            self._refresher = asyncio.ensure_future(self._refresh_forever(self.refresh_every))

    async def _refresh_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self._guarded(self.refresh())

    async def close(self) -> None:
        """Stop refreshing and wait for pending actions (call before the env stops)."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- actions ----------------------------------------------------------------------

    async def load_products(self) -> None:
        """The catalog with current stock into the product dropdown (keeps the selection)."""
        products = await self.orders.catalog()
        current = self.product.value
        options = [(f"{p.name} - {p.price} ({p.stock} left)", p.sku) for p in products]
        if options == list(self.product.options):
            return  # unchanged: send nothing to the browser
        self.product.options = options
        skus = [p.sku for p in products]
        if current in skus:
            self.product.value = current
        elif skus:
            self.product.value = skus[0]

    def request_from_form(self) -> OrderRequest:
        """The form as a validated request (raises ``ValidationError`` on bad input)."""
        faults = {
            step.value: FAULT_PRESETS[dropdown.value]
            for step, dropdown in self.faults.items()
            if FAULT_PRESETS[dropdown.value] is not None
        }
        if self.product.value is None:
            raise OrderError("pick a product first")
        return OrderRequest.model_validate(
            {
                "order_id": self.order_id.value.strip() or None,
                "customer_id": self.customer.value.strip(),
                "items": [{"sku": self.product.value, "quantity": self.quantity.value}],
                "step_delay": self.step_delay.value,
                "faults": faults or None,
            }
        )

    async def create(self) -> str | None:
        """Place the order in the form; select it. Errors become a message, nothing starts."""
        placed = await self.orders.place(self.request_from_form())
        order_id = placed.order_id
        self._placed[order_id] = placed.state
        outcome = "placed" if placed.created else "already exists (same order)"
        self.show_info(f"Order {order_id} {outcome}.")
        self.order_id.value = ""
        await self.refresh(select=order_id)
        return order_id

    async def cancel_selected(self) -> OrderStatus | None:
        """Cancel the selected order through the Update (a late cancel gets a clear 'no') or
        the Signal (fire and forget: a late one is ignored by the workflow)."""
        order_id = self.selected
        if not order_id:
            raise OrderError("select an order to cancel")
        self.cancel_button.disabled = True
        signal = self.cancel_door.value == "signal"
        status = await self.orders.cancel(order_id, self.cancel_reason.value, signal=signal)
        self.show_info(
            f"Cancel signal sent to order {order_id}."
            if signal
            else f"Cancel of order {order_id} accepted."
        )
        await self.refresh_selected()
        return status

    async def review_selected(self, decision: ReviewDecision) -> OrderStatus:
        """Approve or reject the selected order awaiting review (refused otherwise)."""
        order_id = self.selected
        if not order_id:
            raise OrderError("select an order to review")
        self.approve_button.disabled = self.reject_button.disabled = True
        status = await self.orders.review(
            order_id,
            ReviewRequest(decision=decision, reviewer=self.reviewer.value.strip() or "notebook"),
        )
        self.show_info(f"Order {order_id} {'approved' if decision == 'approve' else 'rejected'}.")
        await self.refresh_selected()
        return status

    async def refresh(self, select: str | None = None) -> None:
        """Re-read the orders list, then the selected order's status and chart.

        Refreshes are serialised (the timer and the buttons both trigger them), so a slow
        answer can never overwrite a newer one.
        """
        if select is not None:
            self.selected = select
        async with self._refresh_lock:
            await self.load_products()  # stock changes with every order
            summaries = await self.orders.list(ORDERS_SHOWN)
            options = [
                (
                    f"{s.order_id}  {s.state.value}  {s.total if s.total is not None else ''}",
                    s.order_id,
                )
                for s in summaries
            ]
            selected = self.selected
            if selected and selected not in {value for _, value in options}:
                # Just created: the visibility store lists new workflows a moment later.
                known = self.selected_status
                state = known.state if known else self._placed.get(selected, OrderState.PENDING)
                options.insert(0, (f"{selected}  {state.value}", selected))
            if self.workers_panel is not None:
                await self.workers_panel.refresh()
            self._updating_list = True
            try:
                if options != list(self.order_list.options):
                    self.order_list.options = options
                if self.order_list.value != selected:
                    self.order_list.value = selected
            finally:
                self._updating_list = False
            await self._refresh_selected()

    async def refresh_selected(self) -> None:
        """Re-read the selected order's status (Query) and its attempts chart."""
        async with self._refresh_lock:
            await self._refresh_selected()

    async def _refresh_selected(self) -> None:
        order_id = self.selected
        if not order_id:
            self.selected_status = None
            self.cancel_button.disabled = True
            return
        status = await self.orders.status(order_id)
        if order_id != self.selected:
            return  # the selection changed while we waited; that refresh will follow
        self.selected_status = status
        link = workflow_url(self.ui_url, self.orders.client.namespace, status.workflow_id)
        self.status_panel.value = status_html(status, link)
        self.cancel_button.disabled = not status.cancellable
        awaiting = status.state == OrderState.AWAITING_REVIEW
        self.approve_button.disabled = self.reject_button.disabled = not awaiting
        await self._update_chart(order_id)

    async def _update_chart(self, order_id: str) -> None:
        from orderflow.lab import timeline

        attempts = (await self.orders.timeline(order_id)).attempts
        key = (order_id, tuple((a.step, a.attempt, a.outcome) for a in attempts))
        if key == self._chart_key:
            return
        self._chart_key = key
        if not attempts:
            self.chart.outputs = ()
            return
        figure = timeline.plot_timeline(attempts, title=order_id)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        png = base64.b64encode(buffer.getvalue()).decode()
        self.chart.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": png, "text/plain": f"<timeline of {order_id}>"},
                "metadata": {},
            },
        )


def status_html(status: OrderStatus, link: str | None = None) -> str:
    """The status panel: state, total, error or cancel reason, one line per step, and the
    order's page in the Temporal UI when there is one."""
    rows = "".join(
        f"<tr><td>{step.name.value}</td><td>{step.status.value}</td><td>{step.attempts}</td>"
        f"<td>{html.escape(step.last_error or '')}</td></tr>"
        for step in status.steps
    )
    extra = ""
    if status.review is not None:
        review = status.review
        decided = (
            f"{review.decision.value}d by {html.escape(review.reviewer or '')}"
            if review.decision
            else f"awaiting a decision until {review.deadline:%Y-%m-%d %H:%M} UTC"
        )
        extra += f"<div>Review: {decided}</div>"
    if status.shipment is not None:
        tracking = (
            f" ({status.shipment.tracking_number})" if status.shipment.tracking_number else ""
        )
        extra += f"<div>Shipment: {status.shipment.state.value}{tracking}</div>"
    running = next((step for step in status.steps if step.name == status.current_step), None)
    if running is not None and running.next_attempt_at is not None:
        extra += (
            f"<div>Pending: {running.name.value}, attempt {running.attempts}, next retry at "
            f"{running.next_attempt_at:%H:%M:%S} UTC</div>"
        )
    if status.error:
        extra += f"<div>Error: {html.escape(status.error)}</div>"
    if status.cancel_reason:
        extra += f"<div>Cancel reason: {html.escape(status.cancel_reason)}</div>"
    if link:
        extra += (
            f'<div><a href="{html.escape(link)}" target="_blank" rel="noopener">'
            "open in Temporal UI</a></div>"
        )
    total = f"{status.total} {status.currency}" if status.total is not None else "-"
    return (
        f"<div><b>{html.escape(status.order_id)}</b>: <b>{status.state.value}</b>"
        f" &middot; total {total} &middot; cancellable: {'yes' if status.cancellable else 'no'}"
        f"</div>{extra}<table><tr><th>step</th><th>status</th><th>attempts</th>"
        f"<th>last error</th></tr>{rows}</table>"
    )
