"""(a) Full ``OrderWorkflow`` throughput vs a no-op workflow of the same shape, same run.

    python -m bench.throughput --orders 300 --concurrency 100 --rounds 3

Target: orders/s of the real workflow >= 0.9x the baseline's (``bench/baseline.py``: the
order's activities, child workflow and Signals, each a no-op). Each runs on its own worker
process - ``orderflow worker`` with the settings a user gets, and a plain ``Worker`` with
the same slots - and both are driven and awaited to their result by the same driver
(``orderflow.loadgen.drive``); the order path adds the catalog check through the
``Orders`` door, the store transactions, attempt tracking, search attributes and logging.

A third case explains the gap: the baseline plus exactly the order's visibility writes
(its search-attribute upserts and the patch markers' ``TemporalChangeVersion`` upserts),
see ``bench/baseline.py``. The headline ratio stays against the plain baseline.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import (
    Case,
    Comparison,
    CpuMeter,
    common_args,
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

TARGET = (">=", 0.9)


BASELINE = "baseline (same shape, no-ops)"
VISIBLE_BASELINE = "baseline + the order's visibility writes"


async def measure(orders: int = 300, concurrency: int = 100, rounds: int = 3) -> Comparison:
    async with open_env() as env:
        order_queue, base_queue = queue("orders"), queue("baseline")
        async with worker_processes(env, order_queue, base_queue) as workers:
            server = env.server.process
            meter = CpuMeter({**({"server": server.pid} if server else {}), **workers})
            cases: dict[str, Case] = {
                "OrderWorkflow": lambda: run_orders(env, order_queue, orders, concurrency),
                BASELINE: lambda: run_baseline(env, base_queue, orders, concurrency),
                VISIBLE_BASELINE: lambda: run_baseline(
                    env, base_queue, orders, concurrency, visible=True
                ),
            }
            results = await interleave(
                {name: meter.wrap(name, case, orders) for name, case in cases.items()}, rounds
            )
    comparison = compare(
        "throughput",
        "Throughput: OrderWorkflow vs a no-op workflow of the same shape",
        results,
        a="OrderWorkflow",
        b=BASELINE,
        metric="throughput_per_s",
        target=TARGET,
        params={"orders": orders, "concurrency": concurrency, "rounds": rounds},
    )
    comparison.cpu_ms_per_order = meter.per_order(rounds)
    return comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, orders=300, concurrency=100, rounds=3)
    args = parser.parse_args()
    show(asyncio.run(measure(args.orders, args.concurrency, args.rounds)), as_json=args.json)


if __name__ == "__main__":
    run_script(main)
