"""Workers as supervised child processes, with Stop, Kill (-9) and Start.

``orderflow up --worker-processes N`` and the notebooks run their workers as real
``orderflow worker`` processes through a :class:`WorkerSupervisor`, so the web console
and the widget console can stop one gracefully (SIGTERM: running activities get the
worker's grace period), crash one (SIGKILL: no shutdown code runs, in-flight attempts are
lost and Temporal retries them elsewhere after their timeouts) and start it again.

Supervised means: the supervisor started them, they log to files in the data dir, they
die with it (``PR_SET_PDEATHSIG``), it knows how each one ended, and it stops them all
when it closes. It does *not* restart a worker on its own: after a Kill the point is to
watch the orders wait, and to press Start.

Every control action is refused unless the server is the local dev server this process
started (:func:`orderflow.ownership.control_refusal`); the initial start and the final
stop are the supervisor's own housekeeping and are not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from orderflow.children import die_with_parent
from orderflow.config import Settings, private_dir, private_file
from orderflow.connection import live_pollers
from orderflow.devserver import DevServer
from orderflow.ownership import control_refusal

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0
"""Seconds a stopped worker gets to exit (its graceful shutdown is 5 s) before SIGKILL."""
READY_TIMEOUT = 60.0
"""Seconds to wait for a new worker to poll: on a loaded machine start-up takes a while."""
POLL_EVERY = 0.1
_SCRUBBED = ("TEMPORAL_", "ORDERFLOW_WORKER_METRICS_PORT")
"""Inherited variables that would point a child at another server (a profile, TLS, an API
key) or make every child bind one metrics port."""


class WorkerState(StrEnum):
    STARTING = "starting"
    """The process runs but the server has not seen it poll yet."""
    RUNNING = "running"
    STOPPED = "stopped"
    """Ended by Stop (SIGTERM, graceful), or never started."""
    KILLED = "killed"
    """Ended by Kill (SIGKILL): no shutdown code ran."""
    EXITED = "exited"
    """Ended on its own (a crash, a start-up error): see its log."""


class WorkerInfo(BaseModel):
    """One supervised worker, as the consoles show it."""

    name: str
    state: WorkerState
    pid: int | None = None
    identity: str | None = None
    """Its Temporal worker identity (as in the attempt tracker and the UI)."""
    exit_code: int | None = None
    starts: int = 0
    started_at: datetime | None = None
    log_file: str | None = None


class WorkerControlError(Exception):
    """A control action that cannot be done (the consoles show the sentence)."""


class ControlRefusedError(WorkerControlError):
    """Not the local dev server this process started: controls never act."""


class UnknownWorkerError(WorkerControlError):
    pass


class WorkerStateError(WorkerControlError):
    """Start of a running worker, stop or kill of one that is not running."""


@dataclass
class _Slot:
    name: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_at: datetime | None = None
    ended_by: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def identity(self) -> str | None:
        return f"{self.name}.{self.starts}" if self.starts else None


class WorkerSupervisor:
    """``count`` worker processes named ``<prefix>-1`` ... on ``settings``' task queue."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        *,
        server: DevServer | None,
        count: int = 1,
        prefix: str = "worker",
        env: dict[str, str] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a supervisor runs at least one worker")
        self.client = client
        self.settings = settings
        self.server = server
        self.env = dict(env or {})
        log_dir = settings.data_dir.resolve() / "workers"
        self._slots = {
            name: _Slot(name, log_dir / f"{name}.log")
            for name in (f"{prefix}-{n}" for n in range(1, count + 1))
        }

    # --- what the consoles read -------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    def refusal(self) -> str | None:
        """Why the controls may not act here (one sentence), or None: they may."""
        return control_refusal(self.server, self.client)

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        return self._slot(name).process

    def identity(self, name: str) -> str | None:
        return self._slot(name).identity

    def name_of(self, identity: str) -> str | None:
        """The worker that has (or had) this identity: ``worker-2.1`` -> ``worker-2``."""
        name = identity.rsplit(".", 1)[0]
        return name if name in self._slots else None

    async def workers(self) -> list[WorkerInfo]:
        """Every worker with its state (``running`` once the server has seen it poll)."""
        try:
            pollers = await live_pollers(self.client, self.task_queue)
            polling = set(pollers["workflow"]) & set(pollers["activity"])
        except (RPCError, RuntimeError):  # Temporal down: processes are still what they are
            polling = set()
        return [self._info(slot, polling) for slot in self._slots.values()]

    def _info(self, slot: _Slot, polling: set[str]) -> WorkerInfo:
        process = slot.process
        if slot.alive:
            state = WorkerState.RUNNING if slot.identity in polling else WorkerState.STARTING
        elif process is None or slot.ended_by == "stop":
            state = WorkerState.STOPPED
        elif slot.ended_by == "kill":
            state = WorkerState.KILLED
        else:
            state = WorkerState.EXITED
        return WorkerInfo(
            name=slot.name,
            state=state,
            pid=process.pid if process is not None else None,
            identity=slot.identity,
            exit_code=process.returncode if process is not None else None,
            starts=slot.starts,
            started_at=slot.started_at,
            log_file=str(slot.log_path),
        )

    # --- controls (guarded) ------------------------------------------------------------

    async def start(self, name: str) -> WorkerInfo:
        """Start the worker again (a new process, a new identity ``<name>.<n>``)."""
        slot = self._guarded(name)
        async with slot.lock:
            if slot.alive:
                raise WorkerStateError(f"{name} is already running")
            self._spawn(slot)
        return self._info(slot, set())

    async def stop(self, name: str) -> WorkerInfo:
        """SIGTERM: the worker stops polling and gives running activities its grace period."""
        slot = self._guarded(name)
        async with slot.lock:
            if not slot.alive:
                raise WorkerStateError(f"{name} is not running")
            await self._end(slot, graceful=True)
        return self._info(slot, set())

    async def kill(self, name: str) -> WorkerInfo:
        """SIGKILL (``kill -9``): the process vanishes mid-work, as in a crash."""
        slot = self._guarded(name)
        async with slot.lock:
            if not slot.alive:
                raise WorkerStateError(f"{name} is not running")
            await self._end(slot, graceful=False)
        return self._info(slot, set())

    def _guarded(self, name: str) -> _Slot:
        slot = self._slot(name)
        reason = self.refusal()
        if reason is not None:
            raise ControlRefusedError(reason)
        return slot

    def _slot(self, name: str) -> _Slot:
        try:
            return self._slots[name]
        except KeyError:
            raise UnknownWorkerError(f"no worker named {name!r}") from None

    # --- housekeeping (not guarded) ----------------------------------------------------

    async def start_all(self) -> WorkerSupervisor:
        for slot in self._slots.values():
            async with slot.lock:
                if not slot.alive:
                    self._spawn(slot)
        return self

    async def wait_running(self, name: str | None = None, timeout: float = READY_TIMEOUT) -> None:
        """Until the server sees the worker (every worker, without ``name``) polling."""
        names = [name] if name else self.names
        deadline = time.monotonic() + timeout
        while True:
            infos = {info.name: info for info in await self.workers()}
            if all(infos[n].state == WorkerState.RUNNING for n in names):
                return
            for n in names:
                if infos[n].state in (WorkerState.EXITED, WorkerState.STOPPED, WorkerState.KILLED):
                    raise RuntimeError(f"{n} is {infos[n].state.value}; see {infos[n].log_file}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers not polling after {timeout:g} s: {names}")
            await asyncio.sleep(POLL_EVERY)

    async def close(self) -> None:
        """Stop every worker still running (gracefully, SIGKILL after ``STOP_TIMEOUT``)."""
        await asyncio.gather(*(self._close_slot(slot) for slot in self._slots.values()))

    async def _close_slot(self, slot: _Slot) -> None:
        async with slot.lock:
            if slot.alive:
                await self._end(slot, graceful=True)

    # --- processes ---------------------------------------------------------------------

    def command(self, identity: str) -> list[str]:
        settings = self.settings
        return [
            sys.executable, "-m", "orderflow.cli",
            "--address", settings.address,
            "--namespace", settings.namespace,
            "--task-queue", settings.task_queue,
            "--data-dir", str(settings.data_dir.resolve()),
            "worker", "--identity", identity,
        ]  # fmt: skip

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
        return {**inherited, "COLUMNS": "200", **self.env}

    def _spawn(self, slot: _Slot) -> None:
        """Launch the process from the calling (event loop) thread: Linux sends the
        parent-death signal when the *thread* that forked it ends."""
        slot.starts += 1
        identity = slot.identity
        assert identity is not None
        private_dir(slot.log_path.parent)
        with open(private_file(slot.log_path), "ab") as log:
            slot.process = subprocess.Popen(
                self.command(identity),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._environment(),
                preexec_fn=die_with_parent(signal.SIGTERM) if sys.platform == "linux" else None,
            )
        slot.started_at = datetime.now(UTC)
        slot.ended_by = None
        logger.info("started %s (pid %d, identity %s)", slot.name, slot.process.pid, identity)

    async def _end(self, slot: _Slot, *, graceful: bool) -> None:
        process = slot.process
        assert process is not None
        slot.ended_by = "stop" if graceful else "kill"
        process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while process.poll() is None:
            if graceful and time.monotonic() > deadline:
                process.kill()  # it did not stop in time: what is left is a kill
                slot.ended_by = "kill"
                graceful = False
            await asyncio.sleep(0.05)
        logger.info("%s %s (pid %d)", slot.name, slot.ended_by, process.pid)
