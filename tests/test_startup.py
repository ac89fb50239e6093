"""Processes started in any order: a worker or API that finds Temporal not yet up waits
(bounded, one log line) and then starts; past the bound it exits with one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from orderflow.devserver import free_port
from tests.conftest import eventually

ORDERFLOW = str(Path(sys.executable).parent / "orderflow")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ORDERFLOW, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def test_devserver_worker_and_api_started_together_all_come_up(tmp_path: Path):
    """`orderflow devserver & orderflow worker & orderflow api`: worker and API first."""
    port, api_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERFLOW_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "ORDERFLOW_DATA_DIR": str(tmp_path / "data"),
        "ORDERFLOW_API_PORT": str(api_port),
        "ORDERFLOW_RECONCILE_EVERY": "0",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "api", "devserver")}
    processes = {
        "worker": spawn(["worker"], env, logs["worker"]),
        "api": spawn(["api"], env, logs["api"]),
    }
    try:
        waiting = await eventually(
            lambda: _read(logs["worker"]),
            lambda text: "waiting for Temporal" in text,
            timeout=30,
            what="the worker to say it waits",
        )
        assert waiting.count("waiting for Temporal") == 1
        processes["devserver"] = spawn(["devserver", "--no-ui"], env, logs["devserver"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:

            async def ready() -> int:
                try:
                    return (await http.get("/ready")).status_code
                except httpx.HTTPError:
                    return 0

            await eventually(ready, lambda code: code == 200, timeout=60, what="API ready")
        assert all(p.poll() is None for p in processes.values()), {
            name: _sync_read(log) for name, log in logs.items()
        }
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(20)


async def test_past_the_bound_the_worker_exits_with_one_line(tmp_path: Path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERFLOW_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        "ORDERFLOW_STARTUP_WAIT": "2",
    }
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        ORDERFLOW, "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    took = time.monotonic() - began
    assert process.returncode == 1
    lines = [line for line in stderr.decode().splitlines() if line.startswith("error:")]
    assert (
        len(lines) == 1 and "cannot reach Temporal" in lines[0] and "after waiting 2 s" in lines[0]
    )
    assert 2 <= took < 30


async def _read(path: Path) -> str:
    return _sync_read(path)


def _sync_read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
