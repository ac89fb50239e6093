"""Build and run the worker that executes ``OrderWorkflow`` and its activities.

``build_worker`` registers everything (one pooled store per worker, the attempt tracker);
``run_worker`` is the thin process entry point; ``BackgroundWorker`` runs a worker as a
task on an already running loop (notebooks, ``orderflow up``, tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from orderflow.activities import OrderActivities
from orderflow.client import connect
from orderflow.config import Settings
from orderflow.store import Store
from orderflow.tracking import AttemptTrackingInterceptor
from orderflow.workflows import OrderWorkflow

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=5)
"""Running activities get this long to finish when the worker stops."""

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("rich")
)
"""The sandbox, with ``rich`` passed through: the CLI logs through ``RichHandler``, which
imports parts of rich lazily while formatting a ``workflow.logger`` record. Re-imported
inside the sandbox, rich touches ``os.getcwd`` (restricted) and every workflow task of
``orderflow worker`` / ``orderflow up`` failed with a circular ImportError."""


def default_identity() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def build_worker(
    client: Client,
    store: Store,
    *,
    task_queue: str,
    allow_faults: bool = True,
    identity: str | None = None,
    workflows: list[type] | None = None,
    **options: Any,
) -> Worker:
    """A worker for the order workflow on ``task_queue`` (``options`` go to ``Worker``)."""
    identity = identity or default_identity()
    activities = OrderActivities(store, allow_faults=allow_faults)
    options.setdefault("workflow_runner", WORKFLOW_RUNNER)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows or [OrderWorkflow],
        activities=activities.all(),
        interceptors=[AttemptTrackingInterceptor(store, client, identity)],
        identity=identity,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **options,
    )


def worker_options(settings: Settings) -> dict[str, Any]:
    return {
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
    }


def metrics_runtime(port: int | None, host: str = "127.0.0.1") -> Runtime | None:
    """A Runtime exporting the SDK's own metrics (Prometheus) on ``host:port``, if asked."""
    if not port:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


class BackgroundWorker:
    """A worker running as a task on the current event loop; start/stop are idempotent.

    Takes a factory because a Temporal ``Worker`` cannot run again after shutdown: each
    ``start`` after a ``stop`` builds a fresh one (a "restarted worker" in the tutorials).
    """

    def __init__(self, factory: Callable[[], Worker]) -> None:
        self.factory = factory
        self.worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> BackgroundWorker:
        if not self.running:
            self.worker = self.factory()
            self._task = asyncio.get_running_loop().create_task(self.worker.run())
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done() and self.worker is not None:
            await self.worker.shutdown()
        with suppress(asyncio.CancelledError):
            await task


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Connect, open the store and poll until SIGINT/SIGTERM (or ``stop`` is set)."""
    logger.debug("settings: %s", settings.redacted())  # masked: never log secrets
    runtime = metrics_runtime(settings.worker_metrics_port)
    client = await connect(settings, runtime=runtime)
    store = await Store.open(settings.store_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    worker = build_worker(
        client,
        store,
        task_queue=settings.task_queue,
        allow_faults=settings.allow_faults,
        **worker_options(settings),
    )
    logger.info(
        "worker %s polling task queue %r on %s", worker.config()["identity"],
        settings.task_queue, settings.address,
    )  # fmt: skip
    try:
        async with worker:
            await stop.wait()
    finally:
        await store.close()
