"""One order truth: every door shows the same state and total for the same order, whichever
way it ended, and ``/metrics`` counts orders by state from Temporal's visibility.

Each order is driven down one path (completed, out of stock, cancelled by Update, by Signal,
by Temporal's own cancellation, terminated), then read through the CLI
(``orderflow order status --json``), the HTTP API (detail and list entry) and the widget
console. They must agree with each other and with the state the path implies.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orderflow.api import create_app
from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port
from orderflow.lab.console import OrderConsole
from orderflow.models import OrderRequest, OrderState, StepName, StepStatus
from orderflow.orders import Orders
from orderflow.stack import open_stack
from tests.apiserver import serve
from tests.clirun import run_cli
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")

PRICE = Decimal("6.00")


@dataclass(frozen=True)
class Ending:
    """One way an order can end, and the state every door must then show."""

    name: str
    expected: OrderState
    charged: bool  # whether the order reserves (and so has a total) before it ends


async def run_path(orders: Orders, path: str, order_id: str, sku: str) -> None:
    """Drive one order down ``path`` and wait until Temporal has closed it."""
    slow_charge = {"charge_payment": {"latency": 3}}
    request: dict[str, Any] = {"order_id": order_id, "customer_id": "truth", "items": []}
    quantity = 99 if path == "out_of_stock" else 1
    request["items"] = [{"sku": sku, "quantity": quantity}]
    if path in ("update", "signal", "temporal_cancel", "terminate"):
        request["faults"] = slow_charge
    await orders.place(OrderRequest.model_validate(request))
    if path in ("update", "signal", "temporal_cancel", "terminate"):
        await eventually(
            lambda: orders.status(order_id),
            lambda s: s.step(StepName.CHARGE_PAYMENT).status == StepStatus.RUNNING,
            what=f"{order_id}: charge running",
        )
    if path == "update":
        await orders.cancel(order_id, "by update")
    elif path == "signal":
        await orders.cancel(order_id, "by signal", signal=True)
    elif path == "temporal_cancel":
        await orders.handle(order_id).cancel()
    elif path == "terminate":
        await orders.handle(order_id).terminate(reason="operator says stop")
    await orders.wait(order_id, timeout=30)


PATHS = [
    Ending("completed", OrderState.COMPLETED, charged=True),
    Ending("out_of_stock", OrderState.FAILED, charged=False),
    Ending("update", OrderState.CANCELLED, charged=True),
    Ending("signal", OrderState.CANCELLED, charged=True),
    Ending("temporal_cancel", OrderState.CANCELLED, charged=True),
    Ending("terminate", OrderState.FAILED, charged=True),
]


async def views(
    order_id: str, settings: Settings, http: httpx.AsyncClient, orders: Orders
) -> dict[str, tuple[str, str | None]]:
    """(state, total) of the order as each door shows it."""
    cli = await run_cli(settings, "order", "status", order_id, "--json")
    assert cli.code == 0, cli.stderr
    cli_body = json.loads(cli.stdout)
    detail = await http.get(f"/api/orders/{order_id}")
    assert detail.status_code == 200, detail.text

    async def list_entry() -> dict[str, Any] | None:
        listed = await http.get("/api/orders", params={"customer_id": "truth", "limit": 200})
        assert listed.status_code == 200, listed.text
        return next((row for row in listed.json() if row["order_id"] == order_id), None)

    entry = await eventually(
        list_entry,
        lambda row: row is not None and row["closed_at"] is not None,
        what=f"{order_id} listed as closed",
    )
    assert entry is not None
    console = OrderConsole(orders, refresh_every=None)
    await console.refresh(select=order_id)
    widget = console.selected_status
    assert widget is not None
    await console.close()

    def money(value: Any) -> str | None:
        return None if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))

    return {
        "cli": (cli_body["state"], money(cli_body["total"])),
        "api detail": (detail.json()["state"], money(detail.json()["total"])),
        "api list": (entry["state"], money(entry["total"])),
        "widget": (widget.state.value, money(widget.total)),
    }


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
async def test_every_door_shows_the_same_state_and_total(
    path: Ending, settings, http, orders, order_id, product
):
    sku = await product(stock=5, price=str(PRICE))
    await run_path(orders, path.name, order_id, sku)

    seen = await views(order_id, settings, http, orders)

    total = str(PRICE) if path.charged else None
    expected = {door: (path.expected.value, total) for door in seen}
    assert seen == expected


async def test_filters_select_orders_by_state_and_customer(http, orders, order_id, product):
    sku = await product(stock=1)
    customer = f"filter-{order_id}"[:64]
    for suffix, quantity in (("ok", 1), ("short", 5)):
        await orders.place(
            OrderRequest.model_validate(
                {
                    "order_id": f"{order_id}-{suffix}",
                    "customer_id": customer,
                    "items": [{"sku": sku, "quantity": quantity}],
                }
            )
        )
        await orders.wait(f"{order_id}-{suffix}")

    async def listed(**params: str) -> list[str]:
        response = await http.get("/api/orders", params={"customer_id": customer, **params})
        assert response.status_code == 200, response.text
        return sorted(row["order_id"] for row in response.json())

    everything = await eventually(lambda: listed(), lambda ids: len(ids) == 2, what="both listed")
    assert everything == [f"{order_id}-ok", f"{order_id}-short"]
    assert await listed(state="COMPLETED") == [f"{order_id}-ok"]
    assert await listed(state="FAILED") == [f"{order_id}-short"]
    assert await listed(state="CANCELLED") == []
    bad = await http.get("/api/orders", params={"state": "LOST"})
    assert bad.status_code == 422


# --- /metrics: orders by state from visibility counts --------------------------------------


@pytest.fixture(scope="module")
async def own_namespace(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """A dev server of its own, so the counts start from zero."""
    data_dir = tmp_path_factory.mktemp("metrics")
    server = DevServer(port=free_port(), ui_port=None, log_file=data_dir / "temporal.log")
    settings = Settings(data_dir=data_dir, task_queue="metrics", api_port=free_port())
    async with (
        open_stack(settings, devserver=server, worker=True) as stack,
        serve(create_app(stack.settings, orders=stack.orders)) as url,
    ):
        yield stack, url


def gauge(text: str, state: OrderState) -> float:
    found = re.search(rf'^orderflow_orders\{{state="{state.value}"\}} (\S+)$', text, re.M)
    assert found, text
    return float(found.group(1))


async def test_metrics_count_orders_per_state_from_zero(own_namespace):
    stack, url = own_namespace
    orders: Orders = stack.orders
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        empty = (await http.get("/metrics")).text
        assert {state: gauge(empty, state) for state in OrderState} == dict.fromkeys(
            OrderState, 0.0
        )
        await stack.store.put_product("metric-sku", "Metric", Decimal("1.00"), 2)
        plan = {"COMPLETED": 2, "FAILED": 1, "CANCELLED": 1}
        ids: list[str] = []
        for index in range(2):
            ids.append(await _place(orders, f"m-ok-{index}", 1))
        ids.append(await _place(orders, "m-short", 9))
        ids.append(await _place(orders, "m-cancel", 1, step_delay=30))
        await orders.cancel("m-cancel", "metrics")
        for order_id in ids:
            await orders.wait(order_id)
        await orders.place(
            OrderRequest.model_validate(
                {
                    "order_id": "m-running",
                    "customer_id": "metrics",
                    "items": [{"sku": "metric-sku", "quantity": 1}],
                    "step_delay": 60,
                }
            )
        )
        await eventually(
            lambda: orders.status("m-running"),
            lambda s: s.state == OrderState.PROCESSING,
            what="the running order to report PROCESSING",
        )

        async def scrape() -> dict[OrderState, float]:  # polled: the gauge is cached ~2 s
            text = (await http.get("/metrics")).text
            return {state: gauge(text, state) for state in OrderState}

        want = {state: float(plan.get(state.value, 0)) for state in OrderState}
        want[OrderState.PROCESSING] = 1.0
        assert await eventually(scrape, lambda got: got == want, interval=0.3) == want
        await orders.cancel("m-running", "done")


async def _place(orders: Orders, order_id: str, quantity: int, **extra: Any) -> str:
    placed = await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "metrics",
                "items": [{"sku": "metric-sku", "quantity": quantity}],
                **extra,
            }
        )
    )
    return placed.order_id
