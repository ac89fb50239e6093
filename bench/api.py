"""(d) HTTP API latency at 50 concurrent clients: ``POST /api/orders`` and
``GET /api/orders/{id}``, each next to the same call made directly with the Temporal client.

    python -m bench.api --requests 300 --concurrency 50 --rounds 3

The API (uvicorn + FastAPI, ``orderflow.api.server.ApiServer``), the worker and the load
driver share this process and the dev server, as in ``orderflow up``. The ratio reported
is POST p50 over ``start_order`` p50 (the cost of the HTTP layer); GET is shown the same
way against the ``status`` Query. No target: the issue asks for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from decimal import Decimal

import httpx

from bench.common import (
    Comparison,
    Env,
    compare,
    interleave,
    open_env,
    order_worker,
    queue,
    run_script,
    running,
    show,
)
from orderflow import loadgen
from orderflow.api.server import ApiServer
from orderflow.config import Settings
from orderflow.devserver import free_port
from orderflow.loadgen import LoadResult, Outcome
from orderflow.models import OrderRequest

POST, START = "POST /api/orders", "Orders.place (client)"
GET, QUERY = "GET /api/orders/{id}", "Orders.status (client Query)"


def _payloads(sku: str, count: int) -> list[dict[str, object]]:
    run_id = uuid.uuid4().hex[:8]
    items = [{"sku": sku, "quantity": 1}]
    return [
        {"order_id": f"api-{run_id}-{i}", "customer_id": "bench", "items": items}
        for i in range(count)
    ]


async def measure(requests: int = 300, concurrency: int = 50, rounds: int = 3) -> list[Comparison]:
    async with open_env() as env:
        task_queue = queue("api")
        settings = Settings(
            temporal_address=env.server.address,
            data_dir=env.data_dir,
            task_queue=task_queue,
            api_port=free_port(),
        )
        async with running(order_worker(env, task_queue)):
            api = await ApiServer(settings, env.orders(task_queue)).start()
            try:
                limits = httpx.Limits(max_connections=concurrency)
                base = f"http://{settings.api_host}:{settings.api_port}"
                async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
                    return await _measure(env, http, task_queue, requests, concurrency, rounds)
            finally:
                await api.stop()


async def _measure(
    env: Env,
    http: httpx.AsyncClient,
    task_queue: str,
    requests: int,
    concurrency: int,
    rounds: int,
) -> list[Comparison]:
    orders = env.orders(task_queue)
    sku = f"api-bench-{uuid.uuid4().hex[:6]}"
    await env.store.put_product(sku, "api bench item", Decimal("1.00"), 1_000_000)
    created: list[str] = []

    async def post_run() -> LoadResult:
        payloads = _payloads(sku, requests)

        async def unit(index: int) -> Outcome:
            response = await http.post("/api/orders", json=payloads[index])
            created.append(str(payloads[index]["order_id"]))
            return f"HTTP {response.status_code}", None

        return await loadgen.drive(unit, orders=requests, concurrency=concurrency)

    async def start_run() -> LoadResult:
        payloads = _payloads(sku, requests)

        async def unit(index: int) -> Outcome:
            placed = await orders.place(OrderRequest.model_validate(payloads[index]))
            created.append(placed.order_id)
            return "started", None

        return await loadgen.drive(unit, orders=requests, concurrency=concurrency)

    writes = await interleave({POST: post_run, START: start_run}, rounds)
    for order_id in created[-concurrency:]:  # let the last ones finish: GETs then see steady state
        await orders.wait(order_id)
    targets = created[-requests:]

    async def get_run() -> LoadResult:
        async def unit(index: int) -> Outcome:
            response = await http.get(f"/api/orders/{targets[index % len(targets)]}")
            return f"HTTP {response.status_code}", None

        return await loadgen.drive(unit, orders=requests, concurrency=concurrency)

    async def query_run() -> LoadResult:
        async def unit(index: int) -> Outcome:
            status = await orders.status(targets[index % len(targets)])
            return status.state.value, None

        return await loadgen.drive(unit, orders=requests, concurrency=concurrency)

    reads = await interleave({GET: get_run, QUERY: query_run}, rounds)
    params = {"requests": requests, "concurrency": concurrency, "rounds": rounds}
    return [
        compare("api_post", "API create latency", writes, a=POST, b=START,
                metric="p50_ms", target=None, params=params),
        compare("api_get", "API status latency", reads, a=GET, b=QUERY,
                metric="p50_ms", target=None, params=params),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    results = asyncio.run(measure(args.requests, args.concurrency, args.rounds))
    if args.json:
        import json

        print(json.dumps([result.as_dict() for result in results]))
        return
    for result in results:
        show(result)


if __name__ == "__main__":
    run_script(main)
