"""Real ``orderflow worker`` processes for drills: start them, wait until they poll, kill -9.

Drills must crash the worker the way production crashes it (the process vanishes, no
shutdown hook runs), so an in-process ``BackgroundWorker`` will not do. Each worker is a
subprocess of the test run, logging to its own file; the pool kills every process it
started when it is closed, and Linux kills them too if the test run itself dies
(:mod:`orderflow.children`), so a failing or interrupted test leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orderflow.children import WorkerProcess, die_with_parent

_BUSY = {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE}
READY_TIMEOUT = 60.0
"""Generous: on a loaded 2-core machine a worker's start-up alone can take many seconds."""
# Variables that would let the caller's environment leak into a drill's worker.
_SCRUBBED_PREFIXES = ("ORDERFLOW_", "TEMPORAL_")


@dataclass
class WorkerPool:
    """Starts workers for one task queue, data dir and server; ``close`` kills them all."""

    address: str
    task_queue: str
    data_dir: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "orderflow.cli",
            "--address", self.address,
            "--task-queue", self.task_queue,
            "--data-dir", str(self.data_dir),
            "worker",
        ]  # fmt: skip

    def spawn(self, *, env: dict[str, str] | None = None) -> WorkerProcess:
        """Start one worker process (returns at once; see :meth:`spawn_ready`)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        child_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_PREFIXES)
        }
        child_env.update({"COLUMNS": "200", **self.env, **(env or {})})
        log_path = self.log_dir / f"worker-{len(self.workers)}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,  # so no stray .env of the caller is read
                env=child_env,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )
        worker = WorkerProcess(log_path.stem, process, log_path)
        self.workers.append(worker)
        return worker

    async def spawn_ready(
        self, client: Client, *, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """Start a worker and return once the server sees it polling both task types."""
        worker = self.spawn(env=env)
        await wait_polling(client, self.task_queue, worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PARTITIONS = 4
"""Read partitions of a task queue on the dev server (the server's default,
``matching.numTaskqueueReadPartitions``). Each poll waits on one partition and child
partitions forward only some of their polls to the root, so the root's list alone can miss
a worker whose idle polls all wait on child partitions (a two-worker test waited 45 s for
one that had logged "polling")."""


def partitions(task_queue: str) -> list[str]:
    """The names DescribeTaskQueue answers to for each partition: root, ``/_sys/<name>/<n>``."""
    return [task_queue, *(f"/_sys/{task_queue}/{n}" for n in range(1, PARTITIONS))]


async def poller_identities(
    client: Client, task_queue: str, kind: TaskQueueType.ValueType
) -> set[str]:
    """Who polls ``task_queue`` for ``kind`` tasks, on any of its partitions; a partition the
    server is too busy to describe counts as empty.

    On a loaded 2-core machine the dev server sometimes answers DescribeTaskQueue with
    "operation was canceled" (its own internal deadline). That is "not known yet", not a
    failure, so callers polling with a deadline simply ask again."""
    found: set[str] = set()
    for name in partitions(task_queue):
        try:
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=name),
                    task_queue_type=kind,
                ),
                timeout=timedelta(seconds=5),
            )
        except RPCError as error:
            if error.status in _BUSY:
                continue
            raise
        found |= {poller.identity for poller in response.pollers}
    return found


async def wait_polling(
    client: Client, task_queue: str, worker: WorkerProcess, timeout: float = READY_TIMEOUT
) -> None:
    """Poll the server's view of the task queue until ``worker`` polls workflows and
    activities; fail early with the worker's log if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    while time.monotonic() < deadline:
        if not worker.alive:
            raise RuntimeError(
                f"worker {worker.pid} exited with {worker.process.returncode}:\n{worker.log()}"
            )
        seen = [
            worker.identity in await poller_identities(client, task_queue, kind) for kind in kinds
        ]
        if all(seen):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(
        f"worker {worker.pid} not polling {task_queue!r} after {timeout} s; "
        f"log tail:\n{worker.log()[-2000:]}"
    )
