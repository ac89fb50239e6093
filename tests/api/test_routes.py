"""Every route and status code of the HTTP API, over real HTTP against the real app, dev
server, worker and SQLite store (no mocks)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from orderflow.api import create_app
from orderflow.devserver import free_port
from orderflow.models import FINAL_STATES, OrderState
from orderflow.orders import Orders
from tests.apiserver import serve
from tests.conftest import eventually, unique

DEFAULT_ORDER_STEPS_DONE = ["completed", "skipped", "completed", "completed", "completed"]
"""reserve, review (skipped below the threshold), charge, ship, notify."""

FAST_RETRY = {"initial_interval": 0.1, "backoff_coefficient": 1.0, "maximum_interval": 0.2}


def order_body(order_id: str, sku: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "cust-api",
        "items": [{"sku": sku, "quantity": quantity}],
        **extra,
    }


async def until_final(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        response = await http.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    return await eventually(
        probe, lambda body: body["state"] in FINAL_STATES, what=f"order {order_id} final"
    )


# --- liveness, readiness, docs ------------------------------------------------------------


async def test_health_answers_ok(http):
    response = await http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_lists_the_worker_polling_the_task_queue(http, worker, settings):
    response = await http.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    identity = worker.worker.config()["identity"]
    assert body["task_queue"] == settings.task_queue
    assert identity in body["pollers"]["workflow"]
    assert identity in body["pollers"]["activity"]


async def test_ready_is_503_when_no_worker_polls(settings, client, store):
    lonely = settings.model_copy(update={"task_queue": unique("nobody-polls")})
    async with (
        serve(create_app(lonely, orders=Orders.from_settings(client, store, lonely))) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        response = await http.get("/ready")
    assert response.status_code == 503
    assert "no worker polls" in response.json()["detail"]


async def test_ready_is_503_and_metrics_still_served_when_temporal_is_down(settings, store):
    dead = await Client.connect(
        f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    async with (
        serve(create_app(settings, orders=Orders.from_settings(dead, store, settings))) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        ready = await http.get("/ready")
        metrics = await http.get("/metrics")
    assert ready.status_code == 503
    assert "did not answer" in ready.json()["detail"]
    assert metrics.status_code == 200
    assert 'route="/ready"' in metrics.text


async def test_openapi_docs_are_served_and_list_the_routes(http):
    assert (await http.get("/docs")).status_code == 200
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/orders",
        "/api/orders/{orderId}",
        "/api/orders/{orderId}/cancel",
        "/api/orders/{orderId}/timeline",
        "/api/orders/{orderId}/payments",
        "/api/workflows/{workflowId}/status",
        "/api/products",
        "/health",
        "/ready",
    ):
        assert path in paths, path


# --- create, status, list -----------------------------------------------------------------


async def test_create_runs_the_order_to_completed_with_timeline_and_payments(
    http, order_id, product, store
):
    sku = await product(stock=10, price="7.50")
    response = await http.post("/api/orders", json=order_body(order_id, sku, quantity=2))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        "order_id": order_id,
        "workflow_id": f"order-{order_id}",
        "state": "PENDING",
        "status_url": f"/api/orders/{order_id}",
    }
    assert response.headers["location"] == f"/api/orders/{order_id}"

    final = await until_final(http, order_id)
    assert final["state"] == OrderState.COMPLETED
    assert Decimal(final["total"]) == Decimal("15.00")
    assert [step["status"] for step in final["steps"]] == DEFAULT_ORDER_STEPS_DONE
    assert final["cancellable"] is False
    assert await store.stock(sku) == 8

    timeline = (await http.get(f"/api/orders/{order_id}/timeline")).json()
    assert [(a["step"], a["attempt"], a["outcome"]) for a in timeline["attempts"]] == [
        ("reserve_inventory", 1, "completed"),
        ("charge_payment", 1, "completed"),
        ("pack_shipment", 1, "completed"),  # the shipment child's attempts are the order's too
        ("dispatch_shipment", 1, "completed"),
        ("notify_customer", 1, "completed"),
    ]
    assert final["shipment"]["state"] == "dispatched"
    assert final["shipment"]["tracking_number"].startswith("TRK-")
    payments = (await http.get(f"/api/orders/{order_id}/payments")).json()
    assert [(p["kind"], Decimal(p["amount"])) for p in payments["entries"]] == [
        ("charge", Decimal("15.00"))
    ]
    key = payments["entries"][0]["idempotency_key"]  # bound to this execution: <wf>:<run>:charge
    assert key.startswith(f"order-{order_id}:") and key.endswith(":charge") and key.count(":") == 2
    assert Decimal(payments["net_charged"]) == Decimal("15.00")


async def test_original_create_path_works_and_generates_an_id(http, product):
    sku = await product()
    body = {"customer_id": "cust-legacy", "items": [{"sku": sku, "quantity": 1}]}
    response = await http.post("/api/orders/create", json=body)
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", order_id)
    assert (await until_final(http, order_id))["state"] == OrderState.COMPLETED


async def test_repeat_create_is_idempotent_and_a_different_body_conflicts(
    http, client, order_id, product, store
):
    sku = await product(stock=10)
    body = order_body(order_id, sku, quantity=1)
    first = await http.post("/api/orders", json=body)
    again = await http.post("/api/orders", json=body)
    legacy_again = await http.post("/api/orders/create", json=body)
    conflict = await http.post("/api/orders", json={**body, "items": [{"sku": sku, "quantity": 2}]})

    assert first.status_code == 201
    assert again.status_code == 200 and legacy_again.status_code == 200
    assert again.json()["order_id"] == legacy_again.json()["order_id"] == order_id
    assert conflict.status_code == 409
    assert "different request" in conflict.json()["detail"]
    await until_final(http, order_id)
    assert await store.stock(sku) == 9, "the repeats and the conflict reserved nothing"
    runs = [
        execution async for execution in client.list_workflows(f"WorkflowId = 'order-{order_id}'")
    ]
    assert len(runs) <= 1  # visibility may lag, but never shows a second run


async def test_status_of_an_unknown_order_is_404(http):
    response = await http.get(f"/api/orders/{unique('missing')}")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_list_shows_recent_orders_with_their_final_state(http, order_id, product):
    sku = await product()
    assert (await http.post("/api/orders", json=order_body(order_id, sku))).status_code == 201
    await until_final(http, order_id)

    async def listed() -> list[dict[str, Any]]:
        response = await http.get("/api/orders", params={"limit": 200})
        assert response.status_code == 200
        return [row for row in response.json() if row["order_id"] == order_id]

    rows = await eventually(
        listed, lambda rows: bool(rows) and rows[0]["state"] == "COMPLETED", what="list"
    )
    assert rows[0]["workflow_id"] == f"order-{order_id}"
    assert Decimal(rows[0]["total"]) == Decimal("10.00")
    assert (await http.get("/api/orders", params={"limit": 0})).status_code == 422
    assert (await http.get("/api/orders", params={"limit": 201})).status_code == 422


# --- cancel -------------------------------------------------------------------------------


async def test_cancel_a_slow_order_is_202_then_cancelled_and_refunded(
    http, order_id, product, store
):
    sku = await product(stock=5)
    body = order_body(order_id, sku, step_delay=2.0)
    assert (await http.post("/api/orders", json=body)).status_code == 201

    response = await http.post(f"/api/orders/{order_id}/cancel", json={"reason": "changed mind"})

    assert response.status_code == 202, response.text
    assert response.json()["cancel_reason"] == "changed mind"
    assert response.json()["cancellable"] is False
    final = await until_final(http, order_id)
    assert final["state"] == OrderState.CANCELLED
    assert await store.stock(sku) == 5
    payments = (await http.get(f"/api/orders/{order_id}/payments")).json()
    assert Decimal(payments["net_charged"]) == 0

    again = await http.post(f"/api/orders/{order_id}/cancel")
    assert again.status_code == 409
    assert "CANCELLED" in again.json()["detail"]


async def test_cancel_without_body_and_after_completion_is_409(http, order_id, product):
    sku = await product()
    assert (await http.post("/api/orders", json=order_body(order_id, sku))).status_code == 201
    await until_final(http, order_id)
    response = await http.post(f"/api/orders/{order_id}/cancel")
    assert response.status_code == 409
    assert "COMPLETED" in response.json()["detail"]


async def test_cancel_of_an_unknown_order_is_404(http):
    response = await http.post(f"/api/orders/{unique('ghost')}/cancel", json={"reason": "x"})
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_timeline_and_payments_of_an_unknown_order_are_404(http):
    missing = unique("nothing")
    for suffix in ("timeline", "payments"):
        response = await http.get(f"/api/orders/{missing}/{suffix}")
        assert response.status_code == 404, suffix
        assert "not found" in response.json()["detail"]


async def test_retried_step_shows_every_attempt_in_the_timeline(http, order_id, product):
    sku = await product()
    body = order_body(
        order_id,
        sku,
        faults={"charge_payment": {"fail_first_n": 2}},
        retry=FAST_RETRY,
    )
    assert (await http.post("/api/orders", json=body)).status_code == 201
    final = await until_final(http, order_id)
    assert final["state"] == OrderState.COMPLETED
    charge = next(step for step in final["steps"] if step["name"] == "charge_payment")
    assert charge["attempts"] == 3
    attempts = (await http.get(f"/api/orders/{order_id}/timeline")).json()["attempts"]
    assert [a["outcome"] for a in attempts if a["step"] == "charge_payment"] == [
        "failed",
        "failed",
        "completed",
    ]


# --- Temporal's view, catalog, config -----------------------------------------------------


async def test_workflow_status_route_describes_the_execution(http, order_id, product):
    sku = await product()
    assert (await http.post("/api/orders", json=order_body(order_id, sku))).status_code == 201
    await until_final(http, order_id)
    response = await http.get(f"/api/workflows/order-{order_id}/status")
    assert response.status_code == 200
    body = response.json()
    assert body["workflow_id"] == f"order-{order_id}"
    assert body["status"] == "COMPLETED"
    assert body["workflow_type"] == "OrderWorkflow"

    missing = await http.get(f"/api/workflows/{unique('no-such')}/status")
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]


async def test_products_list_the_catalog_with_stock(http, product):
    sku = await product(stock=42, price="3.25")
    response = await http.get("/api/products")
    assert response.status_code == 200
    mine = [row for row in response.json() if row["sku"] == sku]
    assert len(mine) == 1
    assert mine[0]["stock"] == 42 and Decimal(mine[0]["price"]) == Decimal("3.25")


async def test_config_gives_the_console_its_temporal_ui_base(http, settings):
    body = (await http.get("/api/config")).json()
    assert body == {
        "namespace": "default",
        "task_queue": settings.task_queue,
        "temporal_ui_url": f"http://127.0.0.1:{settings.ui_port}",
        "temporal_ui_workflows_url": (
            f"http://127.0.0.1:{settings.ui_port}/namespaces/default/workflows"
        ),
        "allow_faults": True,
    }


# --- web console, headers, CORS -----------------------------------------------------------


async def test_web_redirects_and_serves_the_console_with_a_strict_csp(http):
    redirect = await http.get("/web")
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"] == "/web/"
    page = await http.get("/web/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert 'id="create-form"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/web/app.js", "/web/style.css"):
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await http.get("/web/missing.js")).status_code == 404


async def test_web_console_uses_no_cdn_and_no_inner_html():
    from orderflow.api.app import WEB_DIR

    for path in WEB_DIR.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://www.w3.org", ""), path
        assert "https://" not in text, path
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path


async def test_no_cors_headers_unless_configured(http, settings, client, store):
    origin = {"Origin": "http://evil.example"}
    plain = await http.get("/api/products", headers=origin)
    assert "access-control-allow-origin" not in plain.headers

    allowed = settings.model_copy(update={"cors_origins": ["http://console.example"]})
    async with (
        serve(create_app(allowed, orders=Orders.from_settings(client, store, allowed))) as url,
        httpx.AsyncClient(base_url=url) as other,
    ):
        good = await other.get("/api/products", headers={"Origin": "http://console.example"})
        bad = await other.get("/api/products", headers=origin)
    assert good.headers["access-control-allow-origin"] == "http://console.example"
    assert "access-control-allow-origin" not in bad.headers


# --- metrics ------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(key) == wanted for key, wanted in labels.items()):
            return float(value)
    return 0.0


async def test_metrics_count_requests_by_route_template_and_orders_by_final_state(
    http, order_id, product
):
    sku = await product()
    before = (await http.get("/metrics")).text
    assert (await http.post("/api/orders", json=order_body(order_id, sku))).status_code == 201
    await until_final(http, order_id)  # one or more GETs of this order's status
    await http.get(f"/api/orders/{unique('absent')}")  # a 404 on the same template

    async def scrape() -> str:
        return (await http.get("/metrics")).text

    after = await eventually(
        scrape,
        lambda text: (
            sample(text, "orderflow_orders", state="COMPLETED")
            > sample(before, "orderflow_orders", state="COMPLETED")
        ),
        timeout=30,
        interval=0.5,
        what="orders gauge to include the new completed order",
    )
    template = "/api/orders/{orderId}"
    assert sample(after, "orderflow_http_requests_total", route=template, status="200") >= 1
    assert sample(after, "orderflow_http_requests_total", route=template, status="404") >= 1
    assert sample(
        after, "orderflow_http_requests_total", method="POST", route="/api/orders", status="201"
    ) > sample(
        before, "orderflow_http_requests_total", method="POST", route="/api/orders", status="201"
    )
    # This worker's other tests may have sent other methods to the template (their rows can
    # come first in the scrape): the GETs of this test are at least its poll and its 404.
    assert (
        sample(after, "orderflow_http_request_duration_seconds_count", method="GET", route=template)
        >= 2
    )
    assert order_id not in after, "raw ids must never become label values"


async def test_a_completed_order_is_readable_while_no_worker_runs(
    settings, client, store, order_id, product
):
    """Closed orders are read from their result in history, so no worker replay is needed."""
    from orderflow.worker import BackgroundWorker, build_worker

    queue = unique("own-queue")
    own = settings.model_copy(update={"task_queue": queue})
    own_worker = BackgroundWorker(lambda: build_worker(client, store, own)).start()
    sku = await product()
    async with (
        serve(create_app(own, orders=Orders.from_settings(client, store, own))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        try:
            assert (
                await http.post("/api/orders", json=order_body(order_id, sku))
            ).status_code == 201
            assert (await until_final(http, order_id))["state"] == OrderState.COMPLETED
        finally:
            await own_worker.stop()
        response = await http.get(f"/api/orders/{order_id}", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == OrderState.COMPLETED
    assert [step["status"] for step in response.json()["steps"]] == DEFAULT_ORDER_STEPS_DONE


async def test_app_connects_and_opens_the_store_itself_when_given_none(settings, worker):
    """The ``orderflow api`` path: the lifespan connects to Temporal and opens the store."""
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        assert (await http.get("/ready")).status_code == 200
        assert (await http.get("/api/products")).status_code == 200
        assert (await http.get(f"/api/orders/{unique('none')}")).status_code == 404


async def test_status_of_a_running_order_answers_at_once_with_its_live_state(
    http, order_id, product
):
    """The status read must not wait for the order to finish (3 steps x 3 s here)."""
    sku = await product()
    body = order_body(order_id, sku, step_delay=3.0)
    assert (await http.post("/api/orders", json=body)).status_code == 201
    response = await http.get(f"/api/orders/{order_id}")
    assert response.status_code == 200
    assert response.json()["state"] in ("PENDING", "PROCESSING")
    assert (await http.post(f"/api/orders/{order_id}/cancel")).status_code == 202
    assert (await until_final(http, order_id))["state"] == OrderState.CANCELLED
