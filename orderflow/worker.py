"""Build and run the worker that executes ``OrderWorkflow`` and its activities.

``build_worker`` registers everything (one pooled store per worker, the attempt tracker);
``BackgroundWorker`` runs a worker as a task on an already running loop. Processes start
workers through :mod:`orderflow.stack` (``orderflow up``, ``orderflow worker``, notebooks).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import py_compile
import socket
import sys
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
"""The sandbox, with ``rich`` passed through: a notebook or an application may still log
through Rich's handler, which imports parts of rich lazily while formatting a
``workflow.logger`` record; re-imported inside the sandbox, rich touches ``os.getcwd``
(restricted) and the workflow task fails with a circular ImportError. (The CLI's own logs
no longer use Rich: :mod:`orderflow.logs`.)"""


def cache_workflow_bytecode(workflows: Sequence[type]) -> None:
    """Cache the workflow modules' bytecode when Python will not (PYTHONDONTWRITEBYTECODE).

    The sandbox re-imports a workflow's module (and its packages) for every new workflow
    run. With no ``.pyc`` beside the source, as in an editable install under
    ``PYTHONDONTWRITEBYTECODE=1``, Python compiles the source again each time: 15 % of the
    worker's CPU at 100 orders in flight (``python -m bench.profile_worker``). Compiling
    once here makes every later import read the cache. A file that cannot be written
    (read-only install; pip compiled it at install time anyway) is left alone.
    """
    if not sys.dont_write_bytecode:
        return  # Python writes the cache itself on the first import
    names = {workflow.__module__ for workflow in workflows}
    names |= {name.rpartition(".")[0] for name in names if "." in name}
    for name in sorted(names):
        source = getattr(sys.modules.get(name), "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        with suppress(OSError, py_compile.PyCompileError):
            cached = importlib.util.cache_from_source(source)
            if os.path.exists(cached) and os.stat(cached).st_mtime >= os.stat(source).st_mtime:
                continue
            py_compile.compile(source, cfile=cached, doraise=True)


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
    workflows = list(workflows or [OrderWorkflow, ShipmentWorkflow, ReconcileWorkflow])
    cache_workflow_bytecode(workflows)
    options.setdefault("workflow_runner", WORKFLOW_RUNNER)
    options.setdefault("max_concurrent_activities", settings.max_concurrent_activities)
    options.setdefault("max_concurrent_workflow_tasks", settings.max_concurrent_workflow_tasks)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=workflows,
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
