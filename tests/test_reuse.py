"""An order id reused after Temporal forgot the old run (retention ended, the dev server's
database removed) is refused, through the API and the CLI, and changes nothing; a run
started around the door with that id becomes a correct new order of its own, never one
completed on the old run's payment (side effects are keyed by the execution)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.devserver import free_port
from orderflow.models import WORKFLOW_TYPE, OrderRequest, OrderState
from orderflow.orders import Orders
from orderflow.store import Store
from tests.clirun import run_cli
from tests.conftest import eventually
from tests.upprocess import orderflow_up


async def final_state(http: httpx.AsyncClient, order_id: str) -> dict:
    async def probe() -> dict:
        response = await http.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    return await eventually(
        probe, lambda body: body["state"] in ("COMPLETED", "FAILED", "CANCELLED")
    )


def body(items: list[dict]) -> dict:
    return {"order_id": "reuse-1", "customer_id": "reuser", "items": items}


async def test_a_reused_order_id_after_a_server_reset_is_refused_or_a_new_order(tmp_path: Path):
    data_dir = tmp_path / "data"
    temporal_port = free_port()
    cheap = [{"sku": "filter-papers", "quantity": 1}]
    dear = [{"sku": "burr-grinder", "quantity": 2}]

    async with (
        orderflow_up(data_dir, temporal_port=temporal_port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        created = await http.post("/api/orders", json=body(cheap))
        assert created.status_code == 201, created.text
        assert (await final_state(http, "reuse-1"))["total"] == "4.95"

    (data_dir / "temporal.db").unlink()  # what retention or an in-memory server does
    for extra in ("temporal.db-wal", "temporal.db-shm"):
        (data_dir / extra).unlink(missing_ok=True)

    async with orderflow_up(data_dir, temporal_port=temporal_port) as url:
        settings = Settings(
            temporal_address=f"127.0.0.1:{temporal_port}", data_dir=data_dir, task_queue="orderflow"
        )
        store = await Store.open(settings.store_url)
        try:
            grinders_before = await store.stock("burr-grinder")
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                refused = await http.post("/api/orders", json=body(dear))
                assert refused.status_code == 409, refused.text
                assert "was used by an earlier order" in refused.json()["detail"]
                same = await http.post("/api/orders", json=body(cheap))
                assert same.status_code == 409, "not even the same body: it would charge twice"

            cli = await run_cli(
                settings, "order", "create", "--customer", "reuser",
                "--item", "burr-grinder=2", "--order-id", "reuse-1",
            )  # fmt: skip
            assert cli.code == 1 and "was used by an earlier order" in cli.stderr, cli
            assert await store.stock("burr-grinder") == grinders_before
            ledger = await store.payment_ledger("order-reuse-1")
            assert [(e.kind, e.amount) for e in ledger] == [("charge", Decimal("4.95"))]

            # Around the door (any Temporal client can start the workflow type): a new order.
            client = await connect(settings)
            orders = Orders.from_settings(client, store, settings)
            await client.start_workflow(
                WORKFLOW_TYPE,
                OrderRequest.model_validate(body(dear)),
                id="order-reuse-1",
                task_queue="orderflow",
            )
            final = await orders.wait("reuse-1", timeout=30)
            assert final.state == OrderState.COMPLETED
            assert final.total == Decimal("258.00")
            ledger = await store.payment_ledger("order-reuse-1")
            charges = sorted(e.amount for e in ledger if e.kind == "charge")
            assert charges == [Decimal("4.95"), Decimal("258.00")]  # its own, and the old one
            assert await store.stock("burr-grinder") == grinders_before - 2
        finally:
            await store.close()
