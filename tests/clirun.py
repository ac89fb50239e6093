"""Run the ``orderflow`` command as users do: a real subprocess against the test dev server.

Subprocesses are awaited with asyncio so the session worker (on this loop) keeps working.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from orderflow.config import Settings

ORDERFLOW = str(Path(sys.executable).parent / "orderflow")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def run_cli(settings: Settings, *args: str, address: str | None = None) -> Result:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address or settings.address,
        "ORDERFLOW_TASK_QUEUE": settings.task_queue,
        "ORDERFLOW_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        ORDERFLOW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return Result(process.returncode or 0, stdout.decode(), stderr.decode())


def assert_one_line_error(result: Result, text: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: ")
    assert text in result.stderr
