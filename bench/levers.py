"""Each performance lever measured before/after, interleaved on the same server and run.

    python -m bench.levers --orders 60 --concurrency 30 --seq-orders 15 --rounds 3

Throughput levers compare orders/s at ``--concurrency`` (ratio after/before, higher is
better); latency levers compare the sequential p50 (ratio after/before, lower is better).
"before" is the default or the code as first written (``bench/variants.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.worker import PollerBehaviorAutoscaling

from bench import variants
from bench.common import (
    Comparison,
    Env,
    common_args,
    compare,
    interleave,
    open_env,
    order_worker,
    queue,
    run_orders,
    run_orders_direct,
    run_script,
    running,
    show,
)
from orderflow.loadgen import LoadResult

THROUGHPUT = ("throughput_per_s", (">=", 1.0))
LATENCY = ("p50_ms", ("<=", 1.0))


def _comparison(
    name: str,
    title: str,
    cases: dict[str, Callable[[], Awaitable[LoadResult]]],
    kind: tuple[str, tuple[str, float]],
    rounds: int,
    params: dict[str, Any],
) -> Callable[[], Awaitable[Comparison]]:
    after, before = list(cases)
    metric, target = kind

    async def run() -> Comparison:
        results = await interleave(cases, rounds)
        return compare(
            name, title, results, a=after, b=before, metric=metric, target=target, params=params
        )

    return run


async def measure(
    orders: int = 60, concurrency: int = 30, rounds: int = 3, seq_orders: int = 15
) -> list[Comparison]:
    load = {"orders": orders, "concurrency": concurrency, "rounds": rounds}
    seq = {"orders": seq_orders, "concurrency": 1, "rounds": rounds}
    comparisons: list[Comparison] = []
    async with open_env() as env, open_env(dynamic_config={}) as default_env:
        pragmas_store = await variants.default_pragmas_store(
            f"sqlite+aiosqlite:///{env.data_dir / 'default-pragmas.db'}"
        )
        q = {name: queue(name) for name in (
            "real", "default-server", "two-write", "unlocked", "pragmas", "no-sticky",
            "autoscale", "no-eager-activity",
        )}  # fmt: skip
        autoscale = PollerBehaviorAutoscaling()
        workers = [
            order_worker(env, q["real"]),
            order_worker(default_env, q["default-server"]),
            order_worker(env, q["two-write"], tracking="two-write"),
            order_worker(env, q["unlocked"], store=variants.unlocked(env.store)),
            order_worker(env, q["pragmas"], store=pragmas_store),
            order_worker(env, q["no-sticky"], max_cached_workflows=0),
            order_worker(
                env,
                q["autoscale"],
                workflow_task_poller_behavior=autoscale,
                activity_task_poller_behavior=autoscale,
            ),
            order_worker(env, q["no-eager-activity"], disable_eager_activity_execution=True),
        ]

        def real(n: int, c: int) -> Callable[[], Awaitable[LoadResult]]:
            return lambda: run_orders(env, q["real"], n, c)

        def on(
            queue_name: str, n: int, c: int, target: Env | None = None, **kw: Any
        ) -> Callable[[], Awaitable[LoadResult]]:
            return lambda: run_orders(target or env, q[queue_name], n, c, **kw)

        n, c = orders, concurrency
        plan = [
            _comparison(
                "server_config_latency",
                "Dev server dynamic config (transfer poll rate, timer shift): sequential",
                {"low-latency config": real(seq_orders, 1),
                 "server defaults": on("default-server", seq_orders, 1, default_env)},
                LATENCY, rounds, seq,
            ),
            _comparison(
                "server_config_throughput",
                "Dev server dynamic config: throughput",
                {"low-latency config": real(n, c),
                 "server defaults": on("default-server", n, c, default_env)},
                THROUGHPUT, rounds, load,
            ),
            _comparison(
                "attempt_tracking",
                "Attempt tracking: one group-committed row vs insert + update",
                {"group commit": real(n, c), "insert + update": on("two-write", n, c)},
                THROUGHPUT, rounds, load,
            ),
            _comparison(
                "sqlite_write_lock",
                "Store: in-process write lock vs SQLite busy handler alone",
                {"write lock": real(n, c), "busy handler only": on("unlocked", n, c)},
                THROUGHPUT, rounds, load,
            ),
            _comparison(
                "sqlite_pragmas",
                "Store: WAL + synchronous=NORMAL vs SQLite defaults",
                {"WAL + NORMAL": real(n, c),
                 "defaults": on("pragmas", n, c, store=pragmas_store)},
                THROUGHPUT, rounds, load,
            ),
            _comparison(
                "eager_start",
                "Eager workflow start (request_eager_start): sequential",
                {"eager start": lambda: run_orders_direct(env, q["real"], seq_orders, 1),
                 "normal start": lambda: run_orders_direct(
                     env, q["real"], seq_orders, 1, eager=False)},
                LATENCY, rounds, seq,
            ),
            _comparison(
                "eager_activities",
                "Eager activity dispatch (SDK default) vs disabled: sequential",
                {"eager activities": real(seq_orders, 1),
                 "no eager activities": on("no-eager-activity", seq_orders, 1)},
                LATENCY, rounds, seq,
            ),
            _comparison(
                "sticky_cache",
                "Sticky workflow cache (max_cached_workflows=1000) vs none",
                {"sticky cache": real(n, c), "no cache": on("no-sticky", n, c)},
                THROUGHPUT, rounds, load,
            ),
            _comparison(
                "poller_autoscaling",
                "Pollers: SDK default (5 per kind) vs PollerBehaviorAutoscaling",
                {"5 pollers": real(n, c), "autoscaling": on("autoscale", n, c)},
                THROUGHPUT, rounds, load,
            ),
        ]  # fmt: skip
        try:
            async with running(*workers):
                for step in plan:
                    comparisons.append(await step())
        finally:
            await pragmas_store.close()
    return comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, orders=60, concurrency=30, rounds=3)
    parser.add_argument("--seq-orders", type=int, default=15, help="orders per latency run")
    args = parser.parse_args()
    results = asyncio.run(measure(args.orders, args.concurrency, args.rounds, args.seq_orders))
    if args.json:
        print(json.dumps([comparison.as_dict() for comparison in results]))
        return
    for comparison in results:
        show(comparison)


if __name__ == "__main__":
    run_script(main)
