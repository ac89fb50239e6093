"""The ``make run`` path end to end: ``orderflow up`` as a subprocess (dev server, worker and
API in one process, CLI logging included), driven over HTTP, then stopped with Ctrl-C.

It caught a real bug: a failing order logs a warning from inside the workflow sandbox, and the
CLI's rich log handler, importing lazily there, failed the workflow task (stuck PROCESSING).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import eventually
from tests.upprocess import orderflow_up


@pytest.fixture(scope="module")
async def up_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with orderflow_up(tmp_path_factory.mktemp("orderflow-up")) as url:
        yield url


@pytest.mark.parametrize(
    ("order_id", "extra", "final"),
    [
        ("svc-ok", {}, "COMPLETED"),
        ("svc-declined", {"faults": {"charge_payment": {"permanent": True}}}, "FAILED"),
    ],
)
async def test_orderflow_up_serves_console_and_settles_orders(up_url, order_id, extra, final):
    async with httpx.AsyncClient(base_url=up_url, timeout=30) as http:
        assert (await http.get("/web/")).status_code == 200
        body = {
            "order_id": order_id,
            "customer_id": "svc",
            "items": [{"sku": "ceramic-mug", "quantity": 1}],
        }
        response = await http.post("/api/orders/create", json={**body, **extra})
        assert response.status_code == 201, response.text

        async def state() -> str:
            answer = await http.get(f"/api/orders/{order_id}")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["state"])

        assert await eventually(state, lambda s: s == final, timeout=30, what=final) == final
