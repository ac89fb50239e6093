"""The one composition root: dev server, client, store, ``Orders``, worker and API.

:func:`open_stack` starts (or reuses) the pieces a process needs and stops them in reverse
order. Every way of running orderflow is a thin caller of it:

- ``orderflow up``: ``open_stack(settings, devserver="auto", worker=True, api=True)``
- ``orderflow worker``: ``devserver="never", worker=True`` (waits for Temporal at start-up)
- ``orderflow api``: ``devserver="never", worker=False, api=True``
- ``orderflow.notebook.start()``: ``devserver="auto", worker=True`` on the kernel's loop
- the benchmarks and tests: a :class:`~orderflow.devserver.DevServer` of their own

A dev server started here belongs to the stack and stops with it; one that already answers
at the address is reused and left alone. A server left behind by a killed process (its port
open, its gRPC no longer answering) is waited for and replaced.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from temporalio.client import Client
from temporalio.runtime import Runtime

from orderflow.config import Settings
from orderflow.connection import connect, ensure_search_attributes, metrics_runtime
from orderflow.devserver import DevServer, for_settings, free_port, is_listening, split_address
from orderflow.errors import TemporalUnavailableError
from orderflow.links import temporal_ui_url
from orderflow.orders import Orders
from orderflow.schedules import ensure_reconcile_schedule
from orderflow.store import Store
from orderflow.supervisor import WorkerSupervisor
from orderflow.worker import BackgroundWorker, build_worker

if TYPE_CHECKING:
    from orderflow.api.server import ApiServer

logger = logging.getLogger(__name__)

DevServerChoice = Literal["auto", "never"] | DevServer
REUSE_TIMEOUT = 15.0
"""How long to wait for a server left by a killed process to answer or go away."""


@dataclass
class Stack:
    """The running pieces of one process; ``orders`` is the door every caller uses."""

    settings: Settings
    client: Client
    store: Store
    orders: Orders
    server: DevServer | None
    """The dev server this stack started (None when it reused one or never starts one)."""
    worker: BackgroundWorker | None
    api: ApiServer | None
    workers: WorkerSupervisor | None = None
    """The worker processes, when the worker runs as supervised children (``up
    --worker-processes N``) instead of in this process."""

    @property
    def ui_url(self) -> str | None:
        """Base of Temporal UI links (:func:`orderflow.links.temporal_ui_url`); None when this
        stack started its dev server without the UI."""
        if self.server is not None and not self.server.ui_port:
            return None
        return temporal_ui_url(self.settings)


@asynccontextmanager
async def open_stack(
    settings: Settings,
    *,
    devserver: DevServerChoice = "auto",
    worker: bool = True,
    api: bool = False,
    ui: bool = True,
    identity: str | None = None,
    runtime: Runtime | None = None,
    wait: float | None = None,
    worker_processes: int = 0,
) -> AsyncIterator[Stack]:
    """Start what is asked, yield the :class:`Stack`, stop everything in reverse order.

    ``devserver``: ``"auto"`` starts the file-backed dev server in the data dir when the
    address is local and nothing answers there; ``"never"`` only connects; a
    :class:`DevServer` is started as given (benchmarks and tests). ``wait`` seconds for
    Temporal to answer (default: ``settings.startup_wait`` unless this stack started the
    server). ``runtime`` is the SDK runtime of the client (default: Prometheus metrics on
    ``settings.worker_metrics_port`` if set). ``worker_processes`` > 0 runs the worker as
    that many supervised ``orderflow worker`` child processes instead of in this process.
    """
    async with AsyncExitStack() as exits:
        server = await _dev_server(settings, devserver, ui=ui)
        if server is not None:
            exits.push_async_callback(server.astop)
        if isinstance(devserver, DevServer):
            settings = settings.model_copy(update={"temporal_address": devserver.address})
        if server is not None and server.ui_port and server.ui_port != settings.ui_port:
            # 8080 was taken, so the UI is elsewhere: every link (API, CLI) must say so.
            settings = settings.model_copy(update={"ui_port": server.ui_port})
        client = await connect(
            settings,
            runtime=runtime or metrics_runtime(settings.worker_metrics_port),
            wait=(0.0 if server is not None else settings.startup_wait) if wait is None else wait,
        )
        if worker or api:
            await ensure_search_attributes(client)
        if worker:
            await ensure_reconcile_schedule(client, settings)
        store = await Store.open(settings.store_url)
        exits.push_async_callback(store.close)
        orders = Orders.from_settings(client, store, settings)
        background: BackgroundWorker | None = None
        supervisor: WorkerSupervisor | None = None
        if worker and worker_processes:
            supervisor = WorkerSupervisor(client, settings, server=server, count=worker_processes)
            exits.push_async_callback(supervisor.close)
            await supervisor.start_all()
        elif worker:
            background = BackgroundWorker(
                lambda: build_worker(client, store, settings, identity=identity)
            ).start()
            exits.push_async_callback(background.stop)
        api_server: ApiServer | None = None
        if api:
            from orderflow.api.server import ApiServer  # FastAPI only where it is served

            api_server = await ApiServer(settings, orders, workers=supervisor).start()
            exits.push_async_callback(api_server.stop)
        yield Stack(settings, client, store, orders, server, background, api_server, supervisor)


async def _dev_server(settings: Settings, choice: DevServerChoice, *, ui: bool) -> DevServer | None:
    """The dev server this stack owns, started and ready; None when it uses another one."""
    if isinstance(choice, DevServer):
        await choice.astart()
        return choice if choice.owned else None
    if choice == "never" or not settings.is_local_temporal:
        return None
    host, port = split_address(settings.address)
    deadline = time.monotonic() + REUSE_TIMEOUT
    while is_listening(host, port):
        try:
            await connect(settings, plugins=[])
            return None  # a live server: reuse it
        except TemporalUnavailableError:
            # Likely the server of a killed process, shutting down: wait for it to go away.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    ui_port: int | None = None
    if ui:
        ui_port = settings.ui_port if not is_listening(host, settings.ui_port) else free_port()
    server = for_settings(settings.address, settings.data_dir, ui_port=ui_port)
    await server.astart()
    return server


def stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, ``kill``, a container stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
