"""(a) Full ``OrderWorkflow`` throughput vs the three-no-op baseline, same server, same run.

    python -m bench.throughput --orders 200 --concurrency 50 --rounds 3

Target: orders/s of the real workflow >= 0.9x the baseline's. Both start with eager start
and are awaited to their result by the same driver (``orderflow.loadgen.drive``); the
order path adds the catalog check, three store transactions and attempt tracking.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import (
    Comparison,
    baseline_worker,
    common_args,
    compare,
    interleave,
    open_env,
    order_worker,
    queue,
    run_baseline,
    run_orders,
    run_script,
    running,
    show,
)

TARGET = (">=", 0.9)


async def measure(orders: int = 200, concurrency: int = 50, rounds: int = 3) -> Comparison:
    async with open_env() as env:
        order_queue, base_queue = queue("orders"), queue("baseline")
        async with running(order_worker(env, order_queue), baseline_worker(env, base_queue)):
            results = await interleave(
                {
                    "OrderWorkflow": lambda: run_orders(env, order_queue, orders, concurrency),
                    "baseline (3 no-op activities)": lambda: run_baseline(
                        env, base_queue, orders, concurrency
                    ),
                },
                rounds,
            )
    return compare(
        "throughput",
        "Throughput: OrderWorkflow vs three no-op activities",
        results,
        a="OrderWorkflow",
        b="baseline (3 no-op activities)",
        metric="throughput_per_s",
        target=TARGET,
        params={"orders": orders, "concurrency": concurrency, "rounds": rounds},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, orders=200, concurrency=50, rounds=3)
    args = parser.parse_args()
    show(asyncio.run(measure(args.orders, args.concurrency, args.rounds)), as_json=args.json)


if __name__ == "__main__":
    run_script(main)
