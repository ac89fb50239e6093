"""What a hostile web page can make the user's browser send to the API on 127.0.0.1 is
refused, and changes nothing: cross-site state changes (CSRF), foreign Host names (DNS
rebinding), bodies that are not declared as JSON. Scripts and curl are served as before."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow.api.middleware import allowed_hosts, hostname
from orderflow.models import OrderRequest, OrderState

pytestmark = pytest.mark.usefixtures("worker")

JSON = {"content-type": "application/json"}


async def slow_order(orders, order_id: str, sku: str) -> None:
    await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "csrf",
                "items": [{"sku": sku, "quantity": 1}],
                "step_delay": 30,
            }
        )
    )


async def assert_still_running(orders, order_id: str) -> None:
    status = await orders.status(order_id)
    assert status.state == OrderState.PROCESSING and status.cancel_reason is None


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"origin": "http://evil.example"}, 403),
        ({"origin": "null"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"origin": "http://evil.example", **JSON}, 403),
    ],
    ids=["foreign-origin", "null-origin", "cross-site", "same-site", "foreign-origin-json"],
)
async def test_a_cross_site_cancel_is_refused_and_cancels_nothing(
    http, orders, order_id, product, headers: dict[str, str], code: int
):
    sku = await product()
    await slow_order(orders, order_id, sku)
    body: Any = b"" if "content-type" not in headers else b'{"reason": "csrf"}'
    response = await http.post(f"/api/orders/{order_id}/cancel", content=body, headers=headers)
    assert response.status_code == code, response.text
    assert "detail" in response.json()
    await assert_still_running(orders, order_id)
    await orders.cancel(order_id, "cleanup")


async def test_a_cross_site_create_is_refused_and_starts_nothing(http, orders, order_id, product):
    sku = await product()
    body = {"order_id": order_id, "customer_id": "csrf", "items": [{"sku": sku, "quantity": 1}]}
    response = await http.post("/api/orders", json=body, headers={"origin": "https://evil.example"})
    assert response.status_code == 403
    assert not await orders.exists(order_id)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_not_declared_as_json_is_refused(
    http, orders, order_id, product, content_type: str | None
):
    sku = await product()
    await slow_order(orders, order_id, sku)
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post(
        f"/api/orders/{order_id}/cancel", content=b'{"reason": "x"}', headers=headers
    )
    assert response.status_code == 415, response.text
    await assert_still_running(orders, order_id)
    await orders.cancel(order_id, "cleanup")


async def test_same_origin_pages_and_plain_scripts_are_served(http, orders, order_id, product):
    sku = await product()
    await slow_order(orders, f"{order_id}-a", sku)
    await slow_order(orders, f"{order_id}-b", sku)
    own_origin = str(http.base_url).rstrip("/")
    from_page = await http.post(
        f"/api/orders/{order_id}-a/cancel",
        json={"reason": "from the console"},
        headers={"origin": own_origin, "sec-fetch-site": "same-origin"},
    )
    assert from_page.status_code == 202, from_page.text
    from_curl = await http.post(f"/api/orders/{order_id}-b/cancel")  # no body, no headers
    assert from_curl.status_code == 202, from_curl.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8081", "127.0.0.1.nip.io"])
async def test_a_foreign_host_name_gets_400_and_no_data(http, host: str):
    response = await http.get("/api/orders", headers={"host": host})
    assert response.status_code == 400
    assert response.json() == {"detail": "this server does not answer to that host name"}


async def test_loopback_names_are_answered(http):
    port = http.base_url.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        response = await http.get("/health", headers={"host": host})
        assert response.status_code == 200, host


def test_allowed_hosts_follow_the_bind_address_and_the_setting():
    assert allowed_hosts("127.0.0.1", []) == frozenset({"127.0.0.1", "localhost", "::1"})
    assert "api" in allowed_hosts("0.0.0.0", ["api"])
    assert "orders.example.com" in allowed_hosts("orders.example.com", [])
    assert "*" in allowed_hosts("127.0.0.1", ["*"])
    assert hostname("[::1]:8081") == "::1" and hostname("LOCALHOST:1") == "localhost"
