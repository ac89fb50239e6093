"""A bounded load generator: place N orders with C in flight, measure end to end.

Each order is timed from "create" to "final state" (the workflow result when driving the
Temporal client, the first final ``GET /api/orders/{id}`` when driving the HTTP API), so
the figures are what a customer would see. The run is bounded on every axis: a fixed number
of orders, a fixed concurrency, a per-order deadline, and traffic only to local addresses
unless the caller explicitly allows otherwise; it is a teaching and benchmarking tool, not
a way to flood someone else's server.

:func:`drive` is the generic part (any "one unit of work" coroutine, used by ``bench/``
for the baseline workflow too); :func:`run_load` drives real orders through it.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from temporalio.client import Client

from orderflow.config import is_local_host
from orderflow.models import FINAL_STATES, OrderRequest, OrderState
from orderflow.orders import Orders

Via = Literal["client", "api"]

MAX_ORDERS = 100_000
MAX_CONCURRENCY = 1_000
ORDER_TIMEOUT = 120.0
"""Seconds one order may take before it is counted as ``TIMEOUT`` (keeps a run bounded)."""

API_POLL_INTERVAL = 0.02
"""Seconds between ``GET /api/orders/{id}`` polls; sets the resolution of API latencies."""

FAST_RETRY = {"initial_interval": 0.1, "backoff_coefficient": 1.0, "maximum_interval": 0.2}
"""Retry settings of the faulted orders, so a transient fault costs ~0.1 s, not 1 s."""

FAULT_MIX: tuple[dict[str, Any], ...] = (
    {"charge_payment": {"fail_first_n": 1}},  # transient: retried, still COMPLETED
    {"charge_payment": {"permanent": True}},  # card declined: compensated, FAILED
)
"""What a faulted order carries, chosen per order by the seeded generator."""

Outcome = tuple[str, str | None]
"""(final state, reason) of one unit of work."""


class LoadgenError(ValueError):
    """Refused parameters (out of bounds, non-local target): nothing was sent."""


@dataclass
class LoadResult:
    """What one run measured. Latencies are end-to-end milliseconds, in completion order."""

    orders: int
    concurrency: int
    via: str
    seconds: float
    throughput_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    by_state: dict[str, int]
    by_reason: dict[str, int]
    latencies: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        """Everything but the raw latencies (the ``--json`` output)."""
        data = asdict(self)
        data.pop("latencies")
        return data


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def check_bounds(orders: int, concurrency: int, fault_rate: float = 0.0) -> None:
    if not 1 <= orders <= MAX_ORDERS:
        raise LoadgenError(f"orders must be 1..{MAX_ORDERS}, got {orders}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise LoadgenError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if not 0.0 <= fault_rate <= 1.0:
        raise LoadgenError(f"fault rate must be between 0 and 1, got {fault_rate}")


def check_local(target: str, what: str, *, allow_remote: bool) -> None:
    """Refuse a non-local target unless explicitly allowed (``--allow-remote``)."""
    if allow_remote:
        return
    if "://" in target:
        host = urlsplit(target).hostname or ""
    else:
        host = target.rpartition(":")[0] if ":" in target else target
    if not is_local_host(host):
        raise LoadgenError(
            f"{what} {target!r} is not on this machine; pass allow_remote / --allow-remote "
            "to load a remote system on purpose"
        )


async def drive(
    unit: Callable[[int], Awaitable[Outcome]],
    *,
    orders: int,
    concurrency: int,
    via: str = "client",
    timeout: float = ORDER_TIMEOUT,
    progress: Callable[[int, int], None] | None = None,
) -> LoadResult:
    """Run ``unit(0..orders-1)`` with at most ``concurrency`` in flight; time each one.

    A unit that raises counts as state ``ERROR`` (reason: the exception type), one that
    exceeds ``timeout`` as ``TIMEOUT``; the run itself never raises because of one order.
    """
    check_bounds(orders, concurrency)
    latencies: list[float] = []
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    indexes = iter(range(orders))

    async def lane() -> None:
        for index in indexes:  # a shared iterator: each index is taken by one lane
            began = time.perf_counter()
            try:
                state, reason = await asyncio.wait_for(unit(index), timeout)
            except TimeoutError:
                state, reason = "TIMEOUT", f"no final state within {timeout:g} s"
            except Exception as error:
                state, reason = "ERROR", type(error).__name__
            latencies.append((time.perf_counter() - began) * 1000)
            states[state] += 1
            if reason:
                reasons[reason] += 1
            if progress is not None:
                progress(len(latencies), orders)

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, orders))))
    seconds = time.perf_counter() - began
    ordered = sorted(latencies)
    return LoadResult(
        orders=orders,
        concurrency=concurrency,
        via=via,
        seconds=round(seconds, 3),
        throughput_per_s=round(orders / seconds, 2) if seconds > 0 else 0.0,
        p50_ms=round(percentile(ordered, 50), 1),
        p95_ms=round(percentile(ordered, 95), 1),
        p99_ms=round(percentile(ordered, 99), 1),
        by_state=dict(sorted(states.items())),
        by_reason=dict(sorted(reasons.items())),
        latencies=[round(value, 2) for value in latencies],
    )


def order_payloads(
    orders: int,
    sku: str,
    *,
    fault_rate: float,
    seed: int,
    run_id: str,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The create payloads of one run: fixed ids, a seeded share carrying a fault plan."""
    rng = random.Random(seed)
    payloads = []
    for index in range(orders):
        payload: dict[str, Any] = {
            "order_id": f"lg-{run_id}-{index:06d}",
            "customer_id": "loadgen",
            "items": [{"sku": sku, "quantity": 1}],
            **(extra or {}),
        }
        if rng.random() < fault_rate:
            payload["faults"] = rng.choice(FAULT_MIX)
            payload["retry"] = FAST_RETRY
        payloads.append(payload)
    return payloads


def _client_target(client: Client) -> str:
    return str(client.service_client.config.target_host)


async def run_load(
    door: Orders,
    *,
    orders: int,
    concurrency: int,
    via: Via = "client",
    api_url: str | None = None,
    fault_rate: float = 0.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    allow_remote: bool = False,
    timeout: float = ORDER_TIMEOUT,
    extra: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Place ``orders`` orders (``concurrency`` at a time) and wait for each final state.

    Every run stocks a fresh product with exactly enough units, so orders never fail for
    lack of stock and never touch the demo catalog. Orders go through ``door`` (its task
    queue, its faults switch, its refusals), as from any other caller. ``fault_rate`` is
    the share of orders (seeded) that carry a fault plan from :data:`FAULT_MIX`. With
    ``via="api"`` the orders go through ``POST /api/orders`` and are polled with
    ``GET /api/orders/{id}`` at ``api_url``; the API must share this store (it checks skus
    against its catalog).
    ``extra`` adds fields to every create payload (e.g. ``{"local_activities": True}``).
    """
    check_bounds(orders, concurrency, fault_rate)
    if via not in ("client", "api"):
        raise LoadgenError(f"via must be 'client' or 'api', got {via!r}")
    check_local(_client_target(door.client), "Temporal address", allow_remote=allow_remote)
    if via == "api":
        if not api_url:
            raise LoadgenError("via='api' needs api_url (e.g. http://127.0.0.1:8081)")
        check_local(api_url, "API URL", allow_remote=allow_remote)

    run_id = uuid.uuid4().hex[:8]
    sku = f"loadgen-{run_id}"
    await door.store.put_product(sku, f"Load test item {run_id}", Decimal("1.00"), orders)
    payloads = order_payloads(
        orders, sku, fault_rate=fault_rate, seed=seed, run_id=run_id, extra=extra
    )

    if via == "client":

        async def place_via_client(index: int) -> Outcome:
            placed = await door.place(OrderRequest.model_validate(payloads[index]))
            final = await door.wait(placed.order_id)
            return final.state.value, final.error

        return await drive(
            place_via_client,
            orders=orders,
            concurrency=concurrency,
            via=via,
            timeout=timeout,
            progress=progress,
        )

    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api_url or "", limits=limits, timeout=30) as http:

        async def place_via_api(index: int) -> Outcome:
            payload = payloads[index]
            created = await http.post("/api/orders", json=payload)
            if created.status_code not in (200, 201):
                return "REJECTED", f"HTTP {created.status_code}"
            while True:
                response = await http.get(f"/api/orders/{payload['order_id']}")
                if response.status_code == 200:
                    body = response.json()
                    if OrderState(body["state"]) in FINAL_STATES:
                        return str(body["state"]), body.get("error")
                elif response.status_code != 404:  # 404: not visible yet, poll again
                    return "ERROR", f"HTTP {response.status_code}"
                await asyncio.sleep(API_POLL_INTERVAL)

        return await drive(
            place_via_api,
            orders=orders,
            concurrency=concurrency,
            via=via,
            timeout=timeout,
            progress=progress,
        )


async def pollers_present(door: Orders) -> bool:
    """Whether any worker polls the door's task queue for workflow tasks (else orders
    never finish)."""
    return bool((await door.pollers())["workflow"])
