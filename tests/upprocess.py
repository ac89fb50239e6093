"""``orderflow up`` as a subprocess (dev server, worker and API in one process), as users run
it with ``make run``: started, waited for until ``/ready``, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from orderflow.devserver import free_port
from tests.conftest import eventually

STOP_TIMEOUT = 30.0


@asynccontextmanager
async def orderflow_up(
    data_dir: Path,
    *,
    temporal_port: int | None = None,
    api_port: int | None = None,
    args: tuple[str, ...] = (),
) -> AsyncIterator[str]:
    """Run ``orderflow up --no-ui [args]`` on ``data_dir``; yield the API's base URL."""
    api_port = api_port or free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port or free_port()}",
        "ORDERFLOW_API_PORT": str(api_port),
        "ORDERFLOW_DATA_DIR": str(data_dir),
    }
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    log = data_dir / "up.log"
    with log.open("a") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "orderflow"),
            "up",
            "--no-ui",
            *args,
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
    # Activity failures are logged on purpose; a workflow task must never fail.
    assert "Failed handling activation" not in log.read_text(), log.read_text()[-3000:]
