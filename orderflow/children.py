"""Processes this process starts and must not leave behind: the dev server, supervised
workers, and the ``orderflow worker`` processes a notebook or a drill starts to kill -9.

Linux sends each such child a signal when its parent dies (``PR_SET_PDEATHSIG``): nbval
SIGKILLs kernels, a test run can be killed, and a worker left behind would keep taking
orders from a task queue nobody watches. Each child also gets its own process group, so a
Ctrl-C in the terminal reaches only the parent, which then stops its children in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(signal_number: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``signal_number`` when its
    parent dies (SIGTERM: a clean stop; SIGKILL: for children that are meant to vanish)."""

    def in_child() -> None:  # pragma: no cover - runs in the child before exec
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal_number)
        os.setpgrp()

    return in_child


@dataclass
class WorkerProcess:
    """One ``orderflow worker`` process. Its Temporal identity is ``pid@hostname``
    (:func:`orderflow.worker.default_identity`, computed for the child's pid)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_at: datetime | None = None
    """When (UTC) the server first saw it polling, if whoever started it waited for that."""
    killed_at: datetime | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def identity(self) -> str:
        return f"{self.pid}@{socket.gethostname()}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def killed(self) -> bool:
        return self.killed_at is not None

    def kill(self) -> datetime:
        """``kill -9``: the process stops where it is, no shutdown hook runs, an attempt in
        flight is simply lost. Returns when (UTC) it was killed."""
        if self.alive:
            self.killed_at = datetime.now(UTC)
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        return self.killed_at or datetime.now(UTC)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful: running activities get their grace period), then SIGKILL if
        it does not exit in time."""
        if not self.alive:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.process.returncode})"
        return f"WorkerProcess({self.name!r}, {state})"
