"""Review and shipment through the HTTP API and the CLI, on the real dev server and worker:
an order at or above the 500.00 threshold waits for a person; paid orders ship through the
``ShipmentWorkflow`` child; once dispatched an order can no longer be cancelled."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from orderflow.devserver import temporal_binary
from orderflow.models import FINAL_STATES, OrderState, shipment_workflow_id
from tests.clirun import assert_one_line_error, run_cli
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")


async def place(http, order_id: str, sku: str, **extra) -> None:
    body = {"order_id": order_id, "customer_id": "rev", "items": [{"sku": sku, "quantity": 1}]}
    response = await http.post("/api/orders", json={**body, **extra})
    assert response.status_code == 201, response.text


async def state_of(http, order_id: str) -> dict:
    response = await http.get(f"/api/orders/{order_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def until(http, order_id: str, accept) -> dict:
    return await eventually(lambda: state_of(http, order_id), accept, what=f"{order_id}")


async def test_review_approve_reject_and_refusals(http, store, order_id, product):
    sku = await product(stock=5, price="600.00")
    await place(http, f"{order_id}-a", sku)
    await place(http, f"{order_id}-r", sku)
    for suffix in ("a", "r"):
        waiting = await until(
            http, f"{order_id}-{suffix}", lambda b: b["state"] == "AWAITING_REVIEW"
        )
        assert waiting["review"]["decision"] is None and waiting["cancellable"] is True
    listed = await http.get("/api/orders", params={"state": "AWAITING_REVIEW", "limit": 200})
    assert {f"{order_id}-a", f"{order_id}-r"} <= {row["order_id"] for row in listed.json()}

    bad = [
        {"decision": "maybe", "reviewer": "x"},
        {"decision": "approve"},
        {"decision": "approve", "reviewer": ""},
        {"decision": "approve", "reviewer": "x", "force": True},
        {"decision": "approve", "reviewer": "x", "note": "n" * 501},
    ]
    for body in bad:
        response = await http.post(f"/api/orders/{order_id}-a/review", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await state_of(http, f"{order_id}-a"))["state"] == "AWAITING_REVIEW"

    approved = await http.post(
        f"/api/orders/{order_id}-a/review",
        json={"decision": "approve", "reviewer": "alice", "note": "known customer"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["review"]["reviewer"] == "alice"
    again = await http.post(
        f"/api/orders/{order_id}-a/review", json={"decision": "reject", "reviewer": "bob"}
    )
    assert again.status_code == 409 and "not awaiting review" in again.json()["detail"]

    rejected = await http.post(
        f"/api/orders/{order_id}-r/review", json={"decision": "reject", "reviewer": "bob"}
    )
    assert rejected.status_code == 200, rejected.text

    done = await until(http, f"{order_id}-a", lambda b: b["state"] in FINAL_STATES)
    assert done["state"] == "COMPLETED" and done["shipment"]["state"] == "dispatched"
    gone = await until(http, f"{order_id}-r", lambda b: b["state"] in FINAL_STATES)
    assert gone["state"] == "CANCELLED"
    assert gone["cancel_reason"] == "rejected in review by bob"
    assert await store.stock(sku) == 4  # one sold, the rejected one's unit released
    assert await store.net_charged(f"order-{order_id}-r") == 0

    missing = await http.post(
        "/api/orders/no-such-order/review", json={"decision": "approve", "reviewer": "x"}
    )
    assert missing.status_code == 404


async def test_an_order_below_the_threshold_skips_review(http, order_id, product):
    sku = await product(stock=5, price="499.99")
    await place(http, order_id, sku)
    done = await until(http, order_id, lambda b: b["state"] in FINAL_STATES)
    assert done["state"] == "COMPLETED" and done["review"] is None
    review = next(step for step in done["steps"] if step["name"] == "review")
    assert review["status"] == "skipped"
    refused = await http.post(
        f"/api/orders/{order_id}/review", json={"decision": "approve", "reviewer": "x"}
    )
    assert refused.status_code == 409


async def test_review_from_the_cli(http, settings, order_id, product):
    sku = await product(stock=2, price="750.00")
    await place(http, order_id, sku)
    await until(http, order_id, lambda b: b["state"] == "AWAITING_REVIEW")
    status = await run_cli(settings, "order", "status", order_id)
    assert "review: awaiting a decision until" in status.stdout

    missing_decision = await run_cli(settings, "order", "review", order_id)
    assert_one_line_error(missing_decision, "--approve or --reject")
    approved = await run_cli(
        settings, "order", "review", order_id, "--approve", "--reviewer", "carol", "--json"
    )
    assert approved.code == 0, approved.stderr
    assert json.loads(approved.stdout)["review"]["reviewer"] == "carol"
    late = await run_cli(settings, "order", "review", order_id, "--reject")
    assert_one_line_error(late, "not awaiting review")


async def test_after_dispatch_an_order_is_no_longer_cancellable(
    http, orders, store, settings, order_id, product
):
    sku = await product(stock=3, price="8.00")
    await place(http, order_id, sku, faults={"notify_customer": {"latency": 5}})
    shipped = await until(
        http, order_id, lambda b: (b.get("shipment") or {}).get("state") == "dispatched"
    )
    assert shipped["cancellable"] is False
    refused = await http.post(f"/api/orders/{order_id}/cancel", json={"reason": "too late"})
    assert refused.status_code == 409
    assert "has been dispatched" in refused.json()["detail"]
    final = await orders.wait(order_id)
    assert final.state == OrderState.COMPLETED
    assert await store.net_charged(final.workflow_id) == Decimal("8.00")

    # The shipment is a workflow of its own, visible to Temporal's tools.
    process = await asyncio.create_subprocess_exec(
        temporal_binary(), "workflow", "list", "--address", settings.address,
        "--query", f"WorkflowId = '{shipment_workflow_id(order_id)}'",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "ShipmentWorkflow" in out.decode() and shipment_workflow_id(order_id) in out.decode()
