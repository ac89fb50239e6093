"""Malformed and hostile requests: each gets a 4xx JSON ``{"detail": ...}`` and changes nothing.

"Nothing" is checked three ways around every request: the order id named in the body has no
workflow (describe answers not found, which is strongly consistent), the number of order
workflows in visibility is unchanged, and the store's row counts and total stock are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bench.drillkit import audit
from orderflow.api.app import MAX_BODY_BYTES, create_app
from orderflow.models import WORKFLOW_TYPE, order_workflow_id
from orderflow.orders import Orders
from orderflow.store import Store
from tests.apiserver import serve
from tests.conftest import eventually

ORDERS = f"WorkflowType = '{WORKFLOW_TYPE}'"
MB = 1024 * 1024


def valid(oid: str, sku: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": oid,
        "customer_id": "cust-hostile",
        "items": [{"sku": sku, "quantity": 1}],
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


DROP = object()


def item(sku: str, quantity: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, **extra}


@dataclass
class Case:
    name: str
    build: Callable[[str, str], Any]
    """(order id, sku) -> a JSON-able body, or raw ``bytes`` sent as they are."""
    content_type: str = "application/json"
    expect: set[int] = field(default_factory=lambda: {422})


def nested(depth: int) -> bytes:
    return b'{"customer_id": ' + b"[" * depth + b"]" * depth + b"}"


CASES = [
    Case("invalid-json", lambda o, s: b'{"customer_id": "c", "items": [', expect={422}),
    Case("empty-body", lambda o, s: b""),
    Case("json-array", lambda o, s: [valid(o, s)]),
    Case("json-string", lambda o, s: "order please"),
    Case("json-null", lambda o, s: None),
    Case("json-number", lambda o, s: 42),
    Case("missing-customer", lambda o, s: valid(o, s, customer_id=DROP)),
    Case("missing-items", lambda o, s: valid(o, s, items=DROP)),
    Case("no-items", lambda o, s: valid(o, s, items=[])),
    Case("items-not-a-list", lambda o, s: valid(o, s, items=item(s))),
    Case(
        "too-many-items",
        lambda o, s: valid(o, s, items=[item(f"{s[:24]}-{n}") for n in range(51)]),
    ),
    Case("quantity-zero", lambda o, s: valid(o, s, items=[item(s, 0)])),
    Case("quantity-negative", lambda o, s: valid(o, s, items=[item(s, -3)])),
    Case("quantity-over-limit", lambda o, s: valid(o, s, items=[item(s, 1001)])),
    Case("quantity-huge", lambda o, s: valid(o, s, items=[item(s, 10**40)])),
    Case("quantity-text", lambda o, s: valid(o, s, items=[item(s, "three")])),
    Case("quantity-fraction", lambda o, s: valid(o, s, items=[item(s, 1.5)])),
    Case("quantity-null", lambda o, s: valid(o, s, items=[item(s, None)])),
    Case("unknown-product", lambda o, s: valid(o, s, items=[item("no-such-product-xyz")])),
    Case("sku-path-traversal", lambda o, s: valid(o, s, items=[item("../../etc/passwd")])),
    Case("duplicate-sku", lambda o, s: valid(o, s, items=[item(s), item(s, 2)])),
    Case("item-with-price", lambda o, s: valid(o, s, items=[item(s, price="0.01")])),
    Case("customer-id-number", lambda o, s: valid(o, s, customer_id=12345)),
    Case("customer-id-markup", lambda o, s: valid(o, s, customer_id="<script>x</script>")),
    Case("customer-id-empty", lambda o, s: valid(o, s, customer_id="")),
    Case("customer-name-too-long", lambda o, s: valid(o, s, customer_name="n" * 201)),
    Case("customer-name-1mb", lambda o, s: valid(o, s, customer_name="A" * MB), expect={413}),
    Case("sku-1mb", lambda o, s: valid(o, s, items=[item("s" * MB)]), expect={413}),
    Case("order-id-path-traversal", lambda o, s: valid("../../etc/passwd", s)),
    Case("order-id-too-long", lambda o, s: valid("x" * 65, s)),
    Case("order-id-unicode", lambda o, s: valid("ordér-1", s)),
    Case("order-id-number", lambda o, s: valid(o, s, order_id=7)),
    Case("extra-top-level-field", lambda o, s: valid(o, s, total="0.00")),
    Case("step-delay-negative", lambda o, s: valid(o, s, step_delay=-1)),
    Case("step-delay-too-long", lambda o, s: valid(o, s, step_delay=61)),
    Case("step-delay-nan", lambda o, s: json.dumps(valid(o, s, step_delay=float("nan"))).encode()),
    Case("fault-unknown-step", lambda o, s: valid(o, s, faults={"ship_it": {"fail_first_n": 1}})),
    Case(
        "fault-negative-count",
        lambda o, s: valid(o, s, faults={"charge_payment": {"fail_first_n": -1}}),
    ),
    Case(
        "fault-rate-above-one",
        lambda o, s: valid(o, s, faults={"charge_payment": {"fail_rate": 2}}),
    ),
    Case(
        "fault-unknown-knob", lambda o, s: valid(o, s, faults={"charge_payment": {"explode": True}})
    ),
    Case("retry-negative-attempts", lambda o, s: valid(o, s, retry={"maximum_attempts": -1})),
    # A body not declared as JSON is refused before it is parsed (what a page can send
    # cross-site without a CORS preflight).
    Case(
        "text-plain-content-type",
        lambda o, s: json.dumps(valid(o, s)).encode(),
        "text/plain",
        expect={415},
    ),
    Case(
        "form-encoded",
        lambda o, s: f"order_id={o}&customer_id=c".encode(),
        "application/x-www-form-urlencoded",
        expect={415},
    ),
    Case("deeply-nested-json", lambda o, s: nested(20_000)),
]


@pytest.fixture(scope="module")
async def quiet(client: Client) -> None:
    """Wait until earlier tests' orders have settled, so counts only move if we move them."""

    async def running() -> int:
        return (await client.count_workflows(f"{ORDERS} AND ExecutionStatus = 'Running'")).count

    await eventually(running, lambda count: count == 0, timeout=60, what="no running orders")


@dataclass
class Snapshot:
    workflows: int
    store: Any


async def snapshot(client: Client, store: Store) -> Snapshot:
    return Snapshot((await client.count_workflows(ORDERS)).count, await audit.counts(store))


async def assert_never_started(client: Client, order_id: str) -> None:
    with pytest.raises(RPCError) as error:
        await client.get_workflow_handle(order_workflow_id(order_id)).describe()
    assert error.value.status == RPCStatusCode.NOT_FOUND


def assert_json_error(response: httpx.Response, expected: set[int]) -> None:
    assert response.status_code in expected, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    detail = response.json()["detail"]
    assert detail, "the error must say what is wrong"


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_create_body_is_refused_and_starts_nothing(
    case: Case, http, client, store, order_id, product
):
    sku = await product(stock=5)
    body = case.build(order_id, sku)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    before = await snapshot(client, store)

    for path in ("/api/orders", "/api/orders/create"):
        response = await http.post(
            path, content=content, headers={"content-type": case.content_type}
        )
        assert_json_error(response, case.expect)

    assert await snapshot(client, store) == before
    assert await store.stock(sku) == 5
    await assert_never_started(client, order_id)


async def test_a_streamed_body_over_the_limit_is_413_json(http, client, store, order_id):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"order_id": "' + order_id.encode() + b'", "customer_name": "'
        for _ in range(MAX_BODY_BYTES // 1000 + 1):
            yield b"x" * 1000
        yield b'"}'

    before = await snapshot(client, store)
    response = await http.post(
        "/api/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_json_error(response, {413})
    assert await snapshot(client, store) == before
    await assert_never_started(client, order_id)


async def test_faults_are_refused_when_disabled(settings, client, store, order_id, product):
    sku = await product(stock=5)
    strict = settings.model_copy(update={"allow_faults": False})
    body = valid(order_id, sku, faults={"charge_payment": {"fail_first_n": 1}})
    before = await snapshot(client, store)
    async with (
        serve(create_app(strict, orders=Orders.from_settings(client, store, strict))) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        response = await http.post("/api/orders", json=body)
        without_faults = await http.get("/api/config")
    assert_json_error(response, {422})
    assert "disabled" in response.json()["detail"]
    assert without_faults.json()["allow_faults"] is False
    assert await snapshot(client, store) == before
    await assert_never_started(client, order_id)


PATHS = [
    ("GET", "/api/orders/..%2F..%2Fetc%2Fpasswd", {404, 422}),
    ("GET", "/api/orders/%2e%2e", {404, 422}),
    ("GET", "/api/orders/a%20b", {422}),
    ("GET", "/api/orders/" + "x" * 65, {422}),
    ("GET", "/api/orders/%3Cscript%3E", {422}),
    ("GET", "/api/orders/..%2Ftimeline", {404, 422}),
    ("GET", "/api/orders/a.b/timeline", {422}),
    ("GET", "/api/orders/a.b/payments", {422}),
    ("POST", "/api/orders/..%2F..%2Fx/cancel", {404, 422}),
    ("POST", "/api/orders/%00/cancel", {422}),
    ("GET", "/api/workflows/..%2F..%2Fsecret/status", {404, 422}),
    ("GET", "/api/workflows/a%3Bb/status", {422}),
    ("GET", "/web/..%2F..%2Fapi.py", {404}),
    ("GET", "/web/%2e%2e/%2e%2e/config.py", {404}),
    ("DELETE", "/api/orders/abc", {405}),
]


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize(("method", "path", "expect"), PATHS, ids=[p for _, p, _ in PATHS])
async def test_hostile_paths_are_refused_as_json(method, path, expect, http, client, store):
    before = await snapshot(client, store)
    response = await http.request(method, http.base_url.copy_with(raw_path=path.encode()))
    assert response.status_code in expect, (response.status_code, response.text[:200])
    assert response.json()["detail"]
    assert await snapshot(client, store) == before


async def test_cancel_with_a_bad_body_is_refused_and_the_order_keeps_running(
    http, client, order_id, product
):
    sku = await product(stock=5)
    created = await http.post("/api/orders", json=valid(order_id, sku, step_delay=1.0))
    assert created.status_code == 201
    for content, content_type, code in (
        (b'{"reason": 5}', "application/json", 422),
        (json.dumps({"reason": "r" * 201}).encode(), "application/json", 422),
        (b'{"reason": "x", "force": true}', "application/json", 422),
        (b"{not json", "application/json", 422),
        (b"reason=x", "application/x-www-form-urlencoded", 415),
    ):
        response = await http.post(
            f"/api/orders/{order_id}/cancel",
            content=content,
            headers={"content-type": content_type},
        )
        assert_json_error(response, {code})
    status = (await http.get(f"/api/orders/{order_id}")).json()
    assert status["cancel_reason"] is None and status["cancellable"] is True
    assert (await http.post(f"/api/orders/{order_id}/cancel")).status_code == 202
