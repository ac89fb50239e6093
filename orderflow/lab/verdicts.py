"""What every exercise check shares: the verdict, the guard that turns a stopped notebook
environment into one sentence, and running the learner's workflow on a worker of its own.

A check must never answer with a traceback: a learner who re-runs a check after "Run
All" (whose last cell stops the env), or whose workflow fails, gets a sentence that says
what to do next.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from orderflow.errors import TemporalUnavailableError
from orderflow.teaching import history

P = ParamSpec("P")

ENV_STOPPED = (
    "The notebook's environment is stopped (the notebook's last cell stops it): re-run "
    "the set-up cell at the top, then this check."
)
TEMPORAL_GONE = (
    "Temporal does not answer any more (was the kernel restarted, or the server "
    "stopped?): re-run the set-up cell at the top, then this check."
)


class HasClient(Protocol):
    """The notebook env, or anything with a client (and, for most checks, a store)."""

    client: Client


@dataclass
class Verdict:
    """The outcome of a check: right or not, and why, in sentences."""

    exercise: str
    ok: bool
    notes: list[str] = field(default_factory=list)
    sentence: str | None = None
    """Set when the check could not run at all: then this sentence is the whole answer."""

    def __str__(self) -> str:
        if self.sentence is not None:
            return self.sentence
        head = f"{'Correct' if self.ok else 'Not yet'} - {self.exercise}"
        return "\n".join([head, *(f"  - {note}" for note in self.notes)])

    def __repr__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.ok


def guarded(
    exercise: str,
) -> Callable[[Callable[P, Awaitable[Verdict]]], Callable[P, Awaitable[Verdict]]]:
    """Decorate a check taking the env first: a stopped env, or a Temporal that no longer
    answers, becomes a one-sentence verdict instead of a traceback."""

    def decorate(check: Callable[P, Awaitable[Verdict]]) -> Callable[P, Awaitable[Verdict]]:
        @functools.wraps(check)
        async def run(*args: P.args, **kwargs: P.kwargs) -> Verdict:
            env = args[0] if args else kwargs.get("env")
            if getattr(env, "closed", False):
                return Verdict(exercise, False, sentence=ENV_STOPPED)
            try:
                return await check(*args, **kwargs)
            except TemporalUnavailableError:
                return Verdict(exercise, False, sentence=TEMPORAL_GONE)
            except RPCError as error:
                if error.status == RPCStatusCode.UNAVAILABLE:
                    return Verdict(exercise, False, sentence=TEMPORAL_GONE)
                return _broke(exercise, error)
            except TemporalError as error:  # e.g. a Query handler of the answer that raised
                return _broke(exercise, error)

        return run

    return decorate


def _broke(exercise: str, error: BaseException) -> Verdict:
    cause = error.__cause__ or error
    return Verdict(
        exercise,
        False,
        [
            "Temporal refused a call the check made to your workflow: "
            f"{type(cause).__name__}: {history.first_line(str(cause))}"
        ],
    )


def exercise_id(name: str) -> str:
    """A fresh id for one run of a check (workflow ids, task queues)."""
    return f"exercise-{name}-{uuid.uuid4().hex[:10]}"


class WorkerRefused(Exception):
    """The SDK would not run the learner's workflow or activity (the message says why)."""


@asynccontextmanager
async def exercise_worker(
    client: Client, name: str, workflows: Sequence[type], activities: Sequence[Any] = ()
) -> AsyncIterator[str]:
    """Run the learner's workflow (and activities) on a task queue of their own; yields
    the task queue. Running activities are cancelled when the check is done."""
    task_queue = exercise_id(name)
    try:
        worker = Worker(
            client, task_queue=task_queue, workflows=list(workflows), activities=list(activities)
        )
    except Exception as error:  # the sandbox validates the workflow here
        raise WorkerRefused(f"{type(error).__name__}: {history.first_line(str(error))}") from error
    async with worker:
        yield task_queue


@dataclass
class Outcome:
    """How one workflow run ended within the time a check gives it."""

    result: Any = None
    failure: BaseException | None = None
    """The cause of a :class:`WorkflowFailureError` (the workflow failed)."""
    stuck: str | None = None
    """A workflow task failure (the code raised, or cannot run): the run is stopped."""
    timed_out: bool = False

    @property
    def completed(self) -> bool:
        return self.failure is None and self.stuck is None and not self.timed_out


async def finish(client: Client, handle: WorkflowHandle[Any, Any], timeout: float) -> Outcome:
    """Wait for the run's result; a failing workflow task (which Temporal would retry
    forever) or a run longer than ``timeout`` is terminated and reported instead."""
    result = asyncio.ensure_future(handle.result())
    stuck = asyncio.ensure_future(history.wait_for_task_failure(client, handle.id, timeout=timeout))
    done, _ = await asyncio.wait({result, stuck}, timeout=timeout, return_when="FIRST_COMPLETED")
    for waiting in (result, stuck):
        waiting.cancel()
    if result in done and not result.cancelled():
        error = result.exception()
        if error is None:
            return Outcome(result=result.result())
        if isinstance(error, WorkflowFailureError):
            return Outcome(failure=error.cause)
        raise error
    await terminate_quietly(handle)
    if stuck in done and not stuck.cancelled() and stuck.exception() is None:
        return Outcome(stuck=stuck.result()[0])
    return Outcome(timed_out=True)


async def terminate_quietly(handle: WorkflowHandle[Any, Any]) -> None:
    """Stop a check's run; one that already closed is fine as it is."""
    try:
        await handle.terminate(reason="exercise check")
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
