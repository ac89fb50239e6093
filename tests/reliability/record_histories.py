"""Record the drills' histories for the replay guard.

Run: ``python -m tests.reliability.record_histories``.

Runs every drill small, on a throwaway file-backed dev server with real worker processes,
and keeps one history per distinct outcome (final state, step statuses, payment kinds):
a retried payment after a worker kill, an order that lived through a server kill, sold
and out-of-stock orders of the oversell race, cancels in every phase, the idempotent
create. They land in ``tests/histories/<RECORDING>/reliability/<order id>.json``, where
``tests/test_replay.py`` replays them on the current code with every other history; the
sets recorded by earlier code stay untouched.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.drillkit import audit
from bench.drillkit.harness import fresh_drill, own_server
from bench.drillkit.scenarios import (
    Drill,
    DrillReport,
    cancel_races,
    dev_server_killed,
    idempotent_create,
    no_oversell,
    worker_killed_mid_payment,
)
from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.models import order_id_from_workflow_id
from tests.record_histories import RECORDING

OUT = Path(__file__).parent.parent / "histories" / RECORDING / "reliability"

DRILLS: dict[str, Callable[[Drill], Awaitable[DrillReport]]] = {
    "worker-killed": lambda d: worker_killed_mid_payment(
        d, orders_count=2, kills=1, latency=2.0, prefix="drill-worker-killed"
    ),
    "oversell": lambda d: no_oversell(
        d, orders_count=12, stock=4, workers=2, prefix="drill-oversell"
    ),
    "cancel": lambda d: cancel_races(d, orders_count=16, seed=7, prefix="drill-cancel"),
    "idempotent": lambda d: idempotent_create(d, repeats=10, prefix="drill-idempotent"),
}


async def keep_one_per_outcome(drill: Drill, report: DrillReport) -> list[str]:
    """Write the history of the first order of each distinct outcome; return the ids."""
    client, orders = drill.client, drill.orders
    ledgers = await audit.payment_kinds(drill.store, report.workflow_ids)
    kept: dict[tuple[object, ...], str] = {}
    for workflow_id in report.workflow_ids:
        status = await orders.status(order_id_from_workflow_id(workflow_id))
        outcome = (
            status.state,
            tuple(step.status for step in status.steps),
            tuple(sorted(ledgers[workflow_id])),
        )
        kept.setdefault(outcome, workflow_id)
    for workflow_id in kept.values():
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        path = OUT / f"{order_id_from_workflow_id(workflow_id)}.json"
        path.write_text(history.to_json() + "\n")
    return sorted(kept.values())


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with own_server(root) as server:
            client = await connect(Settings(temporal_address=server.address))
            for name, run in DRILLS.items():
                async with fresh_drill(server, client, root, name) as drill:
                    report = await run(drill)
                    assert not report.violations, report.violations
                    kept = await keep_one_per_outcome(drill, report)
                    print(f"{name}: kept {', '.join(kept)}")
        with own_server(root, "killed") as server:
            client = await connect(Settings(temporal_address=server.address))
            async with fresh_drill(server, client, root, "server-killed") as drill:
                report = await dev_server_killed(
                    server, drill, orders_count=6, prefix="drill-server-killed"
                )
                assert not report.violations, report.violations
                kept = await keep_one_per_outcome(drill, report)
                print(f"server-killed: kept {', '.join(kept)}")


if __name__ == "__main__":
    asyncio.run(main())
