"""What the workflow sandbox blocks, shown by running real workflows (tutorial 06).

The Python SDK runs workflow code in a sandbox that re-imports the workflow's module and
intercepts calls whose result would differ between the first run and a replay: wall-clock
time, randomness, uuids, files, environment, network, threads, sleeping. Such a call
raises ``RestrictedWorkflowAccessError`` (a ``NondeterminismError``) *before* it can
corrupt a history. Each forbidden call has a deterministic replacement in
``temporalio.workflow`` or belongs in an activity.

By default a sandbox violation fails the *workflow task*, which the server retries until
the code is fixed (the execution waits, nothing is lost). The workflows here list the
error in ``failure_exception_types`` instead, so it fails the *execution* and the caller
sees the message: a lesson should not leave a workflow retrying forever.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

with workflow.unsafe.imports_passed_through():
    from orderflow.models import new_order_id


def _read_file() -> str:
    with open("/etc/hostname") as handle:
        return handle.read()


PROBES: list[tuple[str, Callable[[], Any], str]] = [
    ("datetime.datetime.now()", lambda: datetime.datetime.now(), "workflow.now()"),
    ("time.time()", lambda: time.time(), "workflow.time()"),
    ("time.sleep(0.01)", lambda: time.sleep(0.01), "await workflow.sleep(...) / asyncio.sleep"),
    ("random.random()", lambda: random.random(), "workflow.random().random()"),
    ("uuid.uuid4()", lambda: uuid.uuid4(), "workflow.uuid4()"),
    ("open('/etc/hostname')", _read_file, "an activity"),
    ("os.getenv('HOME')", lambda: os.getenv("HOME"), "workflow input, or an activity"),
    ("socket.gethostname()", lambda: socket.gethostname(), "an activity"),
    ("workflow.now()", lambda: workflow.now(), "-"),
    ("workflow.random().random()", lambda: workflow.random().random(), "-"),
    ("workflow.uuid4()", lambda: workflow.uuid4(), "-"),
]
"""(call, how to make it, what to use instead); the last three are the safe versions."""


@workflow.defn(name="SandboxProbeWorkflow")
class SandboxProbeWorkflow:
    """Tries each probe inside the sandbox and reports which ones it refused."""

    @workflow.run
    async def run(self) -> list[dict[str, str]]:
        rows = []
        for call, make, instead in PROBES:
            try:
                make()
            except RestrictedWorkflowAccessError as error:
                verdict = f"blocked ({error.qualified_name})"
            else:
                verdict = "allowed"
            rows.append({"call": call, "in a workflow": verdict, "use instead": instead})
        return rows


@workflow.defn(name="StampedOrderWorkflow", failure_exception_types=[RestrictedWorkflowAccessError])
class StampedOrderWorkflow:
    """A naive workflow that stamps an order with the wall clock: the sandbox stops it."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        stamped_at = datetime.datetime.now()  # the mistake: use workflow.now()
        return f"order {order_id} received at {stamped_at.isoformat()}"


@dataclass(frozen=True)
class SandboxReport:
    probes: list[dict[str, str]]
    violation: str
    """The error a forbidden call produced, as the caller of the workflow sees it."""


@contextmanager
def _expected_violations() -> Iterator[None]:
    """Mute the sandbox's own warning per refused call while we refuse calls on purpose."""
    sandbox_logger = logging.getLogger(RestrictedWorkflowAccessError.__module__)
    previous = sandbox_logger.level
    sandbox_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        sandbox_logger.setLevel(previous)


async def demonstrate(client: Client, *, task_queue: str | None = None) -> SandboxReport:
    """Run both workflows on a throwaway task queue and collect what the sandbox said."""
    task_queue = task_queue or f"teaching-sandbox-{new_order_id()}"
    with _expected_violations():
        return await _run(client, task_queue)


async def _run(client: Client, task_queue: str) -> SandboxReport:
    async with Worker(
        client, task_queue=task_queue, workflows=[SandboxProbeWorkflow, StampedOrderWorkflow]
    ):
        probes = await client.execute_workflow(
            SandboxProbeWorkflow.run,
            id=f"sandbox-probe-{new_order_id()}",
            task_queue=task_queue,
        )
        try:
            await client.execute_workflow(
                StampedOrderWorkflow.run,
                "sandbox-demo",
                id=f"sandbox-stamped-{new_order_id()}",
                task_queue=task_queue,
            )
        except WorkflowFailureError as failure:
            cause = failure.cause
            violation = cause.message if isinstance(cause, ApplicationError) else str(cause)
        else:  # pragma: no cover - would mean the sandbox let the wall clock through
            violation = "no error: the sandbox did not stop datetime.now()"
    return SandboxReport(probes=probes, violation=violation)
