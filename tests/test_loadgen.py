"""Smoke tests of the load generator (function and CLI): real dev server, worker and store.

No timing assertions (the machine is shared); they check that runs are bounded, count
every order once, end in the states the seeded fault plans predict, and refuse bad input
without placing anything.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from orderflow.loadgen import LoadgenError, order_payloads, run_load
from orderflow.models import FINAL_STATES

pytestmark = pytest.mark.usefixtures("worker")

SUMMARY_FIELDS = {"orders", "seconds", "throughput_per_s", "p50_ms", "p95_ms", "p99_ms", "by_state"}
ORDERFLOW = str(Path(sys.executable).parent / "orderflow")


def expected_failures(orders: int, fault_rate: float, seed: int) -> int:
    """Orders whose seeded fault plan declines the card (the loadgen's FAILED share)."""
    plans = order_payloads(orders, "any", fault_rate=fault_rate, seed=seed, run_id="x")
    return sum(
        1 for plan in plans if plan.get("faults", {}).get("charge_payment", {}).get("permanent")
    )


async def test_run_load_counts_every_order_and_reports_percentiles(orders):
    seed = 3
    failures = expected_failures(6, 0.5, seed)
    assert 0 < failures < 6, "pick a seed that mixes outcomes"
    seen: list[int] = []

    result = await run_load(
        orders,
        orders=6,
        concurrency=3,
        fault_rate=0.5,
        seed=seed,
        progress=lambda done, total: seen.append(done),
    )

    assert result.orders == 6
    assert sum(result.by_state.values()) == 6
    assert set(result.by_state) <= {state.value for state in FINAL_STATES}
    assert result.by_state.get("FAILED", 0) == failures
    assert result.by_state.get("COMPLETED", 0) == 6 - failures
    assert result.by_reason == {"card declined by the issuer": failures}
    assert len(result.latencies) == 6
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
    assert result.p99_ms == pytest.approx(max(result.latencies), abs=0.1)
    assert result.throughput_per_s > 0
    assert seen == [1, 2, 3, 4, 5, 6]
    assert set(result.summary()) >= SUMMARY_FIELDS


async def test_run_load_via_the_http_api(settings, orders):
    from orderflow.api import create_app
    from tests.apiserver import serve

    async with serve(create_app(settings, orders=orders)) as url:
        result = await run_load(
            orders,
            orders=4,
            concurrency=2,
            via="api",
            api_url=url,
            fault_rate=1.0,
            seed=3,
        )

    failures = expected_failures(4, 1.0, 3)
    assert result.via == "api"
    assert result.by_state == {
        state: count
        for state, count in (("COMPLETED", 4 - failures), ("FAILED", failures))
        if count
    }
    assert len(result.latencies) == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"orders": 0, "concurrency": 1},
        {"orders": 1, "concurrency": 0},
        {"orders": 1, "concurrency": 1, "fault_rate": 1.5},
        {"orders": 1, "concurrency": 1, "via": "api", "api_url": None},
        {"orders": 1, "concurrency": 1, "via": "api", "api_url": "http://example.com:8081"},
    ],
)
async def test_bad_parameters_are_refused_before_anything_is_placed(store, orders, kwargs):
    before = await store.list_products()
    with pytest.raises(LoadgenError):
        await run_load(orders, **kwargs)
    assert await store.list_products() == before


async def _orderflow(settings, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "ORDERFLOW_TASK_QUEUE": settings.task_queue,
        "ORDERFLOW_DATA_DIR": str(settings.data_dir),
    }
    # Not subprocess.run: the session worker runs on this event loop and must keep polling.
    process = await asyncio.create_subprocess_exec(
        ORDERFLOW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_cli_json_prints_one_summary_object(settings):
    code, stdout, stderr = await _orderflow(
        settings, "loadgen", "--orders", "4", "--concurrency", "2", "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert set(summary) >= SUMMARY_FIELDS
    assert summary["orders"] == 4
    assert summary["by_state"] == {"COMPLETED": 4}
    assert "latencies" not in summary


async def test_cli_table_and_refusals(settings):
    code, stdout, stderr = await _orderflow(settings, "loadgen", "--orders", "2")
    assert code == 0, stderr
    assert "orders/s" in stdout and "state COMPLETED" in stdout

    code, _, stderr = await _orderflow(
        settings, "--task-queue", "nobody-polls-this", "loadgen", "--orders", "2"
    )
    assert code == 1 and "no worker polls" in stderr

    code, _, stderr = await _orderflow(
        settings, "loadgen", "--orders", "2", "--via", "api", "--api-url", "http://10.1.2.3:80"
    )
    assert code == 1 and "not on this machine" in stderr
