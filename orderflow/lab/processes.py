"""Worker *processes* beside the kernel: start ``orderflow worker``, then ``kill -9`` it.

Tutorial 02 shows durable execution the way it matters in production: the process running
an activity vanishes (SIGKILL: no shutdown hook, no cleanup, the attempt simply stops) and
another process finishes the order. The kernel's own worker is a task on the kernel's loop
and cannot die like that, so these are real ``orderflow worker`` processes on the env's
server, task queue and data dir (the same store). Each logs to a file in the data dir and
dies with the kernel (:mod:`orderflow.children`): nbval SIGKILLs kernels, and a worker
left behind would keep taking orders.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import PendingActivityState

from orderflow.children import WorkerProcess, die_with_parent
from orderflow.models import order_workflow_id

if TYPE_CHECKING:
    from orderflow.lab.env import NotebookEnv

READY_TIMEOUT = 60.0
"""Seconds a new worker process may take to poll (start-up is slow on a busy machine)."""


def worker_command(env: NotebookEnv) -> list[str]:
    """``orderflow worker`` on the env's server, namespace, task queue and data dir."""
    settings = env.settings
    return [
        sys.executable, "-m", "orderflow.cli",
        "--address", settings.address,
        "--namespace", settings.namespace,
        "--task-queue", settings.task_queue,
        "--data-dir", str(settings.data_dir.resolve()),
        "worker",
    ]  # fmt: skip


def spawn_worker_process(env: NotebookEnv, name: str) -> WorkerProcess:
    """Start a worker process (returns at once; see :func:`start_worker_process`)."""
    data_dir = env.settings.data_dir.resolve()
    log_path = data_dir / f"worker-{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            worker_command(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,  # no stray .env of the notebook's directory
            env={**os.environ, "COLUMNS": "200"},
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
    return WorkerProcess(name, process, log_path)


async def start_worker_process(
    env: NotebookEnv, name: str, *, timeout: float = READY_TIMEOUT
) -> WorkerProcess:
    """Start a worker process and return once the server sees it polling workflow and
    activity tasks on the env's task queue."""
    worker = spawn_worker_process(env, name)
    try:
        await wait_polling(env, worker, timeout)
    except BaseException:
        worker.kill()
        raise
    worker.ready_at = datetime.now(UTC)
    return worker


async def wait_polling(env: NotebookEnv, worker: WorkerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive:
            raise RuntimeError(
                f"worker {worker.name} exited with {worker.process.returncode}: "
                f"{worker.log()[-1000:]}"
            )
        pollers = await env.orders.pollers()
        if all(worker.identity in pollers.get(kind, []) for kind in ("workflow", "activity")):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"worker {worker.name} was not polling after {timeout:g} s")


async def wait_for_running_attempt(
    env: NotebookEnv, order_id: str, step: str, *, timeout: float = 30.0
) -> str:
    """Wait until a worker has started an attempt of the order's ``step`` (the server's
    pending-activity record says STARTED); return that worker's identity."""
    handle = env.client.get_workflow_handle(order_workflow_id(order_id))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            if pending.activity_type.name == step and started:
                return pending.last_worker_identity
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no worker started {step} of order {order_id} within {timeout:g} s")
