"""Attempt tracking's write path: one group-committed row per short attempt, a ``running``
row only for attempts that last (the evidence a dead worker leaves behind)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from orderflow.models import AttemptOutcome, AttemptRecord, OrderRequest, OrderState
from orderflow.store import Store, utcnow
from orderflow.tracking import RUNNING_ROW_AFTER, GroupCommit
from tests.conftest import eventually


class CountingStore(Store):
    """The real store, counting the group-commit transactions it is asked for."""

    batches: list[int]

    async def record_attempts(self, records):  # type: ignore[override]
        self.batches.append(len(records))
        await super().record_attempts(records)


def attempt(workflow_id: str, n: int) -> AttemptRecord:
    return AttemptRecord(
        workflow_id=workflow_id, order_id=workflow_id, step="charge_payment", attempt=n,
        started_at=utcnow(), finished_at=utcnow(), outcome="completed", error_message="x" * 900,
    )  # fmt: skip


async def test_concurrent_attempts_share_transactions(tmp_path: Path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'attempts.db'}")
    counting = CountingStore(store.engine)
    counting.batches = []
    commits = GroupCommit(counting)
    try:
        await asyncio.gather(*(commits.write(attempt("wf-batch", n)) for n in range(1, 51)))
        rows = await store.attempts("wf-batch")
    finally:
        await store.close()
    assert sorted(row.attempt for row in rows) == list(range(1, 51))
    assert sum(counting.batches) == 50
    assert len(counting.batches) < 50, "concurrent attempts must share transactions"
    assert all(len(row.error_message or "") == 500 for row in rows)


@pytest.mark.usefixtures("worker")
async def test_only_a_long_attempt_shows_running_and_every_attempt_has_one_row(
    client, store, settings, order_id, product, orders
):
    sku = await product(stock=3)
    latency = RUNNING_ROW_AFTER + 1.0
    request = OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": "cust-track",
            "items": [{"sku": sku, "quantity": 1}],
            "faults": {"charge_payment": {"latency": latency}},
        }
    )
    started = await orders.place(request)

    running = await eventually(
        lambda: store.attempts(started.workflow_id),
        lambda rows: any(row.outcome == AttemptOutcome.RUNNING for row in rows),
        what="a running row for the slow charge",
    )
    assert [(row.step, row.outcome) for row in running] == [
        ("reserve_inventory", "completed"),
        ("charge_payment", AttemptOutcome.RUNNING),
    ]
    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    rows = await store.attempts(started.workflow_id)
    assert [(row.step, row.attempt, row.outcome) for row in rows] == [
        ("reserve_inventory", 1, "completed"),
        ("charge_payment", 1, "completed"),
        ("notify_customer", 1, "completed"),
    ]
    charge = rows[1]
    assert charge.finished_at is not None
    assert (charge.finished_at - charge.started_at).total_seconds() >= latency
    assert await store.net_charged(started.workflow_id) == Decimal("10.00")
