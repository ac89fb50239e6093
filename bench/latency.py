"""(c) Single-order end-to-end latency, sequential: ``OrderWorkflow`` vs the baseline.

    python -m bench.latency --orders 30 --rounds 3

Target: p50 of the real workflow <= 1.2x the no-op workflow of the same shape
(``bench/baseline.py``), each on its own worker process as in ``bench.throughput``. Also
shown: the baseline's order activities as local activities, and ``OrderWorkflow`` with its
steps as local activities (``"local_activities": true`` in the order), the option for
latency-critical deployments. One order at a time (concurrency 1).
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import (
    Comparison,
    compare,
    interleave,
    open_env,
    queue,
    run_baseline,
    run_orders,
    run_script,
    show,
    worker_processes,
)

TARGET = ("<=", 1.2)
ORDER = "OrderWorkflow"
BASELINE = "baseline (same shape, no-ops)"
LOCAL_BASELINE = "baseline, local activities"
LOCAL_ORDER = "OrderWorkflow, local activities"


async def measure(orders: int = 30, rounds: int = 3) -> Comparison:
    async with open_env() as env:
        order_queue, base_queue = queue("orders"), queue("baseline")
        async with worker_processes(env, order_queue, base_queue):
            results = await interleave(
                {
                    ORDER: lambda: run_orders(env, order_queue, orders, 1),
                    LOCAL_ORDER: lambda: run_orders(
                        env, order_queue, orders, 1, local_activities=True
                    ),
                    BASELINE: lambda: run_baseline(env, base_queue, orders, 1),
                    LOCAL_BASELINE: lambda: run_baseline(env, base_queue, orders, 1, local=True),
                },
                rounds,
            )
    return compare(
        "latency",
        "Sequential end-to-end latency",
        results,
        a=ORDER,
        b=BASELINE,
        metric="p50_ms",
        target=TARGET,
        params={"orders": orders, "concurrency": 1, "rounds": rounds},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=30, help="orders per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    show(asyncio.run(measure(args.orders, args.rounds)), as_json=args.json)


if __name__ == "__main__":
    run_script(main)
