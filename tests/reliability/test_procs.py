"""The worker-process helpers leave nothing behind: not when a test fails, not when the
test run itself is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.drillkit.procs import WorkerPool
from orderflow.devserver import DevServer
from tests.conftest import unique


def gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer exists (or is a zombie awaiting its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_pool_kills_its_workers_when_the_test_fails(dev_server: DevServer, tmp_path: Path) -> None:
    pool = WorkerPool(dev_server.address, unique("procs"), tmp_path / "data", tmp_path / "logs")
    with pytest.raises(RuntimeError, match="the test failed"), pool:
        worker = pool.spawn()
        assert worker.alive
        raise RuntimeError("the test failed")

    assert not worker.alive and worker.killed


def test_workers_die_with_a_killed_test_run(dev_server: DevServer, tmp_path: Path) -> None:
    """SIGKILL the process that started a worker (no teardown runs): the worker dies too."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bench.drillkit.procs import WorkerPool\n"
        f"pool = WorkerPool({dev_server.address!r}, 'orphan-check', Path({str(tmp_path)!r}),"
        f" Path({str(tmp_path)!r}))\n"
        "print(pool.spawn().pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent.parent,
    )
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert not gone(worker_pid, timeout=0.2)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)

        assert gone(worker_pid), f"worker {worker_pid} outlived its killed parent"
    finally:
        parent.kill()
