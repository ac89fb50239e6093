"""Record the event histories the replay test checks (``python -m tests.record_histories``).

Each scenario runs on a throwaway dev server with the real worker and store; its history is
written to ``tests/histories/<RECORDING>/<scenario>.json`` (``--into DIR`` to choose). The
histories of earlier code stay as they are: the point of committing them is that orders
recorded by old code keep replaying on new code. Record a new set when the workflow gains
new paths (behind ``workflow.patched``), never to paper over an incompatible change.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port
from orderflow.models import OrderRequest, ReviewDecision, ReviewRequest, StepName, StepStatus
from orderflow.orders import Orders
from orderflow.stack import open_stack

RECORDING = "v3"
"""The current set: review and shipment (v2: search attributes, execution-bound keys and
Temporal cancellation; the root set: the first version)."""
HISTORIES = Path(__file__).parent / "histories" / RECORDING
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
    "temporal_cancel_during_payment": {
        "faults": {"charge_payment": {"latency": 3}},
        "temporal_cancel_when_running": StepName.CHARGE_PAYMENT,
    },
    "review_approved": {"price": "600.00", "review": "approve"},
    "review_rejected": {"price": "600.00", "review": "reject"},
    "review_timed_out": {"price": "600.00", "review_timeout": 1},
    "cancel_while_packing": {
        "faults": {"ship": {"latency": 3}},
        "cancel_when_running": StepName.SHIP,
    },
    "local_cancel_in_backoff": {
        "local_activities": True,
        "faults": {"charge_payment": {"fail_first_n": 5}},
        "retry": {"initial_interval": 2.0, "backoff_coefficient": 1.0, "maximum_interval": 2.0},
        "cancel_after_seconds": 3.0,
    },
}


async def _wait_for(orders: Orders, order_id: str, step: StepName, status: StepStatus) -> None:
    for _ in range(400):
        current = await orders.status(order_id)
        if current.step(step).status == status:
            return
        await asyncio.sleep(0.025)
    raise RuntimeError(f"{order_id}: {step} never became {status}")


async def record(name: str, spec: dict[str, Any], orders: Orders, into: Path) -> None:
    spec = dict(spec)
    cancel_after = spec.pop("cancel_after", None)
    cancel_running = spec.pop("cancel_when_running", None)
    temporal_cancel = spec.pop("temporal_cancel_when_running", None)
    review = spec.pop("review", None)
    price = spec.pop("price", "3.00")
    cancel_later = spec.pop("cancel_after_seconds", None)
    quantity = spec.pop("quantity", 1)
    sku = f"replay-{name}"[:32]
    await orders.store.put_product(sku, f"Replay {name}", Decimal(price), 10)
    request = OrderRequest.model_validate(
        {
            "order_id": f"replay-{name}",
            "customer_id": "replay",
            "items": [{"sku": sku, "quantity": quantity}],
            **spec,
        }
    )
    order_id = (await orders.place(request)).order_id
    if review is not None:
        await _wait_for(orders, order_id, StepName.REVIEW, StepStatus.RUNNING)
        decision = ReviewRequest(decision=ReviewDecision(review), reviewer="recorder")
        await orders.review(order_id, decision)
    if cancel_after is not None:
        await _wait_for(orders, order_id, cancel_after, StepStatus.COMPLETED)
        await orders.cancel(order_id, "recorded cancel")
    if cancel_running is not None:
        await _wait_for(orders, order_id, cancel_running, StepStatus.RUNNING)
        await orders.cancel(order_id, "recorded cancel")
    if temporal_cancel is not None:
        await _wait_for(orders, order_id, temporal_cancel, StepStatus.RUNNING)
        await orders.handle(order_id).cancel(reason="recorded cancel through Temporal")
    if cancel_later is not None:
        await asyncio.sleep(cancel_later)  # into the charge's retry backoff (a workflow timer)
        await orders.cancel(order_id, "recorded cancel in backoff")
    final = await orders.wait(order_id)
    history = await orders.client.get_workflow_handle(request.workflow_id).fetch_history()
    (into / f"{name}.json").write_text(history.to_json() + "\n")
    print(f"{name}: {final.state}, {len(history.events)} events")


async def main(into: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(port=free_port(), ui_port=None)
        settings = Settings(data_dir=Path(tmp), task_queue="replay")
        into.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any order
        async with open_stack(settings, devserver=server, worker=True) as stack:
            await asyncio.gather(*(record(n, s, stack.orders, into) for n, s in SCENARIOS.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=HISTORIES, help="where to write")
    asyncio.run(main(parser.parse_args().into))
