"""Record the event histories the replay test checks (``python -m tests.record_histories``).

Each scenario runs on a throwaway dev server with the real worker and store; its history is
written to ``tests/histories/<scenario>.json``. Re-record only when a workflow change is
*meant* to be incompatible (and then version it with ``workflow.patched``): the point of
the committed histories is that old executions keep replaying on new code.
"""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from orderflow import client as orders
from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port
from orderflow.models import OrderRequest, StepName, StepStatus
from orderflow.store import Store
from orderflow.worker import BackgroundWorker, build_worker

HISTORIES = Path(__file__).parent / "histories"
FAST = {"initial_interval": 0.1, "backoff_coefficient": 1.0, "maximum_interval": 0.2}

SCENARIOS: dict[str, dict[str, Any]] = {
    "happy_path": {},
    "transient_retries": {"faults": {"charge_payment": {"fail_first_n": 2}}, "retry": FAST},
    "retries_exhausted": {
        "faults": {"reserve_inventory": {"fail_first_n": 5}},
        "retry": {**FAST, "maximum_attempts": 2},
    },
    "out_of_stock": {"quantity": 99},
    "card_declined": {"faults": {"charge_payment": {"permanent": True}}},
    "notification_failed": {"faults": {"notify_customer": {"permanent": True}}},
    "hung_attempt_timeout": {"faults": {"reserve_inventory": {"timeout": True}}, "retry": FAST},
    "cancel_before_payment": {"step_delay": 1.0, "cancel_after": StepName.RESERVE_INVENTORY},
    "cancel_during_payment": {
        "faults": {"charge_payment": {"latency": 3}},
        "cancel_when_running": StepName.CHARGE_PAYMENT,
    },
    "cancel_after_payment": {
        "faults": {"notify_customer": {"latency": 3}},
        "cancel_after": StepName.CHARGE_PAYMENT,
    },
}


async def _wait_for(client: Any, order_id: str, step: StepName, status: StepStatus) -> None:
    for _ in range(400):
        current = await orders.get_status(client, order_id)
        if current.step(step).status == status:
            return
        await asyncio.sleep(0.025)
    raise RuntimeError(f"{order_id}: {step} never became {status}")


async def record(name: str, spec: dict[str, Any], client: Any, store: Store) -> None:
    spec = dict(spec)
    cancel_after = spec.pop("cancel_after", None)
    cancel_running = spec.pop("cancel_when_running", None)
    quantity = spec.pop("quantity", 1)
    sku = f"replay-{name}"[:32]
    await store.put_product(sku, f"Replay {name}", Decimal("3.00"), 10)
    request = OrderRequest.model_validate(
        {
            "order_id": f"replay-{name}",
            "customer_id": "replay",
            "items": [{"sku": sku, "quantity": quantity}],
            **spec,
        }
    )
    await orders.start_order(client, request, store=store, task_queue="replay")
    order_id = request.order_id or ""
    if cancel_after is not None:
        await _wait_for(client, order_id, cancel_after, StepStatus.COMPLETED)
        await orders.cancel_order(client, order_id, "recorded cancel")
    if cancel_running is not None:
        await _wait_for(client, order_id, cancel_running, StepStatus.RUNNING)
        await orders.cancel_order(client, order_id, "recorded cancel")
    final = await orders.wait_for_order(client, order_id)
    history = await client.get_workflow_handle(request.workflow_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")
    print(f"{name}: {final.state}, {len(history.events)} events")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, DevServer(port=free_port(), ui_port=None) as server:
        settings = Settings(
            temporal_address=server.address, data_dir=Path(tmp), task_queue="replay"
        )
        client = await orders.connect(settings)
        store = await Store.open(settings.store_url)
        worker = BackgroundWorker(lambda: build_worker(client, store, task_queue="replay")).start()
        try:
            HISTORIES.mkdir(exist_ok=True)
            await asyncio.gather(*(record(n, s, client, store) for n, s in SCENARIOS.items()))
        finally:
            await worker.stop()
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
