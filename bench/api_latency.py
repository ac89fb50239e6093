"""Latency of the HTTP API under 50 concurrent clients: POST /api/orders and GET /api/orders/{id}.

By default it starts its own stack in a subprocess, exactly as users run it
(``orderflow up --no-ui`` on free ports with a throwaway data dir: dev server + worker + API),
adds a product with plenty of stock, then drives the API from this process with httpx:
``--clients`` concurrent clients (each its own connection, requests back to back).

    .venv/bin/python bench/api_latency.py                 # self-contained run
    .venv/bin/python bench/api_latency.py --url http://127.0.0.1:8081 --sku filter-papers

Prints one table (p50/p90/p99/max in ms, requests/s). No assertion: numbers depend on the
machine; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx

from orderflow.devserver import free_port
from orderflow.loadgen import percentile
from orderflow.store import Store

BENCH_SKU = "bench-item"
READY_TIMEOUT = 60.0


@asynccontextmanager
async def own_stack(*, bench_product: bool = True) -> AsyncIterator[tuple[str, str]]:
    """``orderflow up --no-ui`` on free ports in a temp dir; yields (base URL, bench SKU).

    ``bench_product`` adds a product with stock enough for any run (else the demo catalog).
    """
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
        api_port = free_port()
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "ORDERFLOW_API_PORT": str(api_port),
            "ORDERFLOW_DATA_DIR": data_dir,
            "ORDERFLOW_LOG_LEVEL": "WARNING",
        }
        orderflow = Path(sys.executable).parent / "orderflow"
        log = Path(data_dir) / "up.log"
        with log.open("w") as log_file:
            process = await asyncio.create_subprocess_exec(
                str(orderflow), "up", "--no-ui", env=env, stdout=log_file, stderr=log_file
            )
        base = f"http://127.0.0.1:{api_port}"
        try:
            await wait_ready(base, process, log)
            if bench_product:
                store = await Store.open(f"sqlite+aiosqlite:///{Path(data_dir) / 'orderflow.db'}")
                await store.put_product(BENCH_SKU, "Benchmark item", Decimal("1.00"), 10_000_000)
                await store.close()
            yield base, BENCH_SKU
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"orderflow up exited ({process.returncode}); see {log}")
            try:
                if (await http.get("/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base}/ready did not answer 200 within {READY_TIMEOUT} s")


async def run_clients(
    base: str,
    clients: int,
    per_client: int,
    request: Callable[[httpx.AsyncClient, int], Awaitable[str]],
) -> tuple[list[float], float, list[str]]:
    """``clients`` concurrent clients, each sending ``per_client`` requests back to back."""
    latencies: list[float] = []
    results: list[str] = []

    async def one_client(index: int) -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            for n in range(per_client):
                started = time.perf_counter()
                results.append(await request(http, index * per_client + n))
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    return latencies, time.perf_counter() - started, results


async def settle(base: str, expected: int, timeout: float = 180.0) -> None:
    """Wait until the created orders have finished, so GETs do not compete with them.

    Uses the API's own ``orderflow_orders`` gauge (orders by final state, from visibility).
    """
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            text = (await http.get("/metrics")).text
            finished = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("orderflow_orders{")
            )
            if finished >= expected:
                return
            await asyncio.sleep(1.0)
    raise RuntimeError(f"orders did not finish within {timeout} s")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def row(name: str, latencies: list[float], elapsed: float) -> str:
    ms = sorted(value * 1000 for value in latencies)
    cells = [percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), max(ms)]
    numbers = "".join(f"{cell:>9.1f}" for cell in cells)
    return f"{name:<26}{len(ms):>7}{numbers}{len(ms) / elapsed:>10.1f}"


async def bench(base: str, sku: str, clients: int, creates: int, gets: int) -> None:
    run = uuid.uuid4().hex[:8]
    numbers = itertools.count()

    async def create(http: httpx.AsyncClient, n: int) -> str:
        body = {
            "order_id": f"bench-{run}-{next(numbers)}",
            "customer_id": "bench",
            "items": [{"sku": sku, "quantity": 1}],
        }
        response = await http.post("/api/orders", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"create answered {response.status_code}: {response.text}")
        return str(response.json()["order_id"])

    # Warm-up: connections, the workflow cache, the SQLite pages.
    await run_clients(base, 5, 4, create)
    post_latencies, post_elapsed, order_ids = await run_clients(
        base, clients, max(1, creates // clients), create
    )

    progress(f"{len(order_ids)} creates in {post_elapsed:.1f} s; waiting for them to finish")
    await settle(base, expected=len(order_ids) + 20)
    progress("all finished; timing GETs")
    picker = random.Random(11)

    async def get(http: httpx.AsyncClient, _n: int) -> str:
        order_id = picker.choice(order_ids)
        response = await http.get(f"/api/orders/{order_id}")
        if response.status_code != 200:
            raise RuntimeError(f"status answered {response.status_code}: {response.text}")
        return order_id

    get_latencies, get_elapsed, _ = await run_clients(base, clients, max(1, gets // clients), get)

    print(f"\nAPI latency, {clients} concurrent clients ({base}, {os.cpu_count()} CPUs)")
    headers = ["p50 ms", "p90 ms", "p99 ms", "max ms"]
    print(f"{'request':<26}{'count':>7}" + "".join(f"{h:>9}" for h in headers) + f"{'req/s':>10}")
    print(row("POST /api/orders", post_latencies, post_elapsed))
    print(row("GET /api/orders/{id}", get_latencies, get_elapsed))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running API (default: start our own)")
    parser.add_argument("--sku", default=BENCH_SKU, help="product to order (with --url)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--creates", type=int, default=500, help="POSTs in total")
    parser.add_argument("--gets", type=int, default=2000, help="GETs in total")
    args = parser.parse_args()
    if args.url:
        await bench(args.url, args.sku, args.clients, args.creates, args.gets)
        return
    async with own_stack() as (base, sku):
        await bench(base, sku, args.clients, args.creates, args.gets)


if __name__ == "__main__":
    from bench.common import run_script

    run_script(lambda: asyncio.run(main()))
