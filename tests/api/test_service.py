"""The ``make run`` path end to end: ``orderflow up`` as a subprocess (dev server, worker and
API in one process, CLI logging included), driven over HTTP, then stopped with Ctrl-C.

It caught a real bug: a failing order logs a warning from inside the workflow sandbox, and the
CLI's rich log handler, importing lazily there, failed the workflow task (stuck PROCESSING).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from orderflow.devserver import free_port
from tests.conftest import eventually

STOP_TIMEOUT = 30.0


@pytest.fixture(scope="module")
async def up_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    data_dir = tmp_path_factory.mktemp("orderflow-up")
    api_port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "ORDERFLOW_API_PORT": str(api_port),
        "ORDERFLOW_DATA_DIR": str(data_dir),
    }
    log = data_dir / "up.log"
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "orderflow"),
            "up",
            "--no-ui",
            env=env,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{api_port}"

    async def ready() -> int:
        if process.returncode is not None:
            raise AssertionError(f"orderflow up exited early:\n{log.read_text()}")
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                return (await http.get("/ready")).status_code
        except httpx.TransportError:
            return 0

    try:
        await eventually(ready, lambda code: code == 200, timeout=60, what="orderflow up ready")
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise AssertionError(
                    f"Ctrl-C did not stop orderflow up:\n{log.read_text()}"
                ) from None
    assert process.returncode == 0, log.read_text()[-3000:]
    # Activity failures are logged with their traceback on purpose; a workflow task must not fail.
    assert "Failed handling activation" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.parametrize(
    ("order_id", "extra", "final"),
    [
        ("svc-ok", {}, "COMPLETED"),
        ("svc-declined", {"faults": {"charge_payment": {"permanent": True}}}, "FAILED"),
    ],
)
async def test_orderflow_up_serves_console_and_settles_orders(up_url, order_id, extra, final):
    async with httpx.AsyncClient(base_url=up_url, timeout=30) as http:
        assert (await http.get("/web/")).status_code == 200
        body = {
            "order_id": order_id,
            "customer_id": "svc",
            "items": [{"sku": "ceramic-mug", "quantity": 1}],
        }
        response = await http.post("/api/orders/create", json={**body, **extra})
        assert response.status_code == 201, response.text

        async def state() -> str:
            answer = await http.get(f"/api/orders/{order_id}")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["state"])

        assert await eventually(state, lambda s: s == final, timeout=30, what=final) == final
