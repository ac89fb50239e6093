"""Build and run the worker that executes ``OrderWorkflow`` and its activities.

``build_worker`` registers everything (one pooled store per worker, the attempt tracker);
``BackgroundWorker`` runs a worker as a task on an already running loop. Processes start
workers through :mod:`orderflow.stack` (``orderflow up``, ``orderflow worker``, notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from orderflow.activities import OrderActivities, ReconcileActivities, ShipmentActivities
from orderflow.config import Settings
from orderflow.store import Store
from orderflow.tracking import AttemptTrackingInterceptor
from orderflow.workflows import OrderWorkflow, ReconcileWorkflow, ShipmentWorkflow

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
    settings: Settings,
    *,
    identity: str | None = None,
    workflows: Sequence[type] | None = None,
    task_queue: str | None = None,
    **options: Any,
) -> Worker:
    """The order worker: every workflow and activity registered in this one place.

    ``settings`` give the task queue, the faults switch and the concurrency limits;
    ``workflows`` replaces the registered workflows (the tutorials' variants run on their
    own ``task_queue``); other ``options`` go to ``Worker``.
    """
    identity = identity or default_identity()
    activities = [
        *OrderActivities(
            store,
            allow_faults=settings.allow_faults,
            review_threshold=settings.review_threshold,
            review_timeout=settings.review_timeout,
        ).all(),
        *ShipmentActivities(store, allow_faults=settings.allow_faults).all(),
        *ReconcileActivities(client, store).all(),
    ]
    options.setdefault("workflow_runner", WORKFLOW_RUNNER)
    options.setdefault("max_concurrent_activities", settings.max_concurrent_activities)
    options.setdefault("max_concurrent_workflow_tasks", settings.max_concurrent_workflow_tasks)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(workflows or [OrderWorkflow, ShipmentWorkflow, ReconcileWorkflow]),
        activities=activities,
        interceptors=[AttemptTrackingInterceptor(store, identity)],
        identity=identity,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **options,
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
