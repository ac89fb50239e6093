"""(b) File-backed dev server (SQLite WAL, synchronous=NORMAL) vs in-memory, same run.

    python -m bench.durability --orders 200 --concurrency 50 --rounds 3

Target: orders/s on the durable server >= 0.8x the in-memory one. Both servers run side by
side with the same dynamic config, each with its own worker in this process; runs
alternate between them. ``OrderWorkflow`` through ``orderflow.loadgen`` on both.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import (
    Comparison,
    common_args,
    compare,
    interleave,
    open_env,
    order_worker,
    queue,
    run_orders,
    run_script,
    running,
    show,
)

TARGET = (">=", 0.8)
FILE = "file-backed (WAL)"
MEMORY = "in-memory"


async def measure(orders: int = 200, concurrency: int = 50, rounds: int = 3) -> Comparison:
    async with open_env() as durable, open_env(in_memory=True) as memory:
        durable_queue, memory_queue = queue("durable"), queue("memory")
        workers = order_worker(durable, durable_queue), order_worker(memory, memory_queue)
        async with running(*workers):
            results = await interleave(
                {
                    FILE: lambda: run_orders(durable, durable_queue, orders, concurrency),
                    MEMORY: lambda: run_orders(memory, memory_queue, orders, concurrency),
                },
                rounds,
            )
    return compare(
        "durability",
        "Dev server persistence: SQLite file (WAL) vs in-memory",
        results,
        a=FILE,
        b=MEMORY,
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
