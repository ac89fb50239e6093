"""Compose the running service: dev server, worker and HTTP API in one event loop.

``orderflow up`` is the one-command demo: it starts the file-backed dev server unless a
Temporal server already answers, runs a worker as a task and (optionally) serves the API
and web console with uvicorn on the same loop, then waits for Ctrl-C and stops all three
in reverse order.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack, suppress

from rich.console import Console
from temporalio.client import Client

from orderflow.client import connect
from orderflow.config import Settings
from orderflow.devserver import for_settings, is_listening, split_address
from orderflow.store import Store
from orderflow.worker import BackgroundWorker, build_worker, metrics_runtime, worker_options


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


class ApiServer:
    """uvicorn serving the FastAPI app as a task on the running loop.

    uvicorn captures SIGINT/SIGTERM while it serves and re-raises them after a graceful
    exit, so Ctrl-C first stops the API and then reaches our own stop event.
    """

    def __init__(self, settings: Settings, client: Client, store: Store) -> None:
        import uvicorn

        from orderflow.api import create_app

        config = uvicorn.Config(
            create_app(settings, client=client, store=store),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> ApiServer:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # re-raise a bind error
                raise RuntimeError("the API server stopped during start-up")
            await asyncio.sleep(0.05)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with suppress(asyncio.CancelledError):
                await self.task


async def run_up(
    settings: Settings, *, with_api: bool = True, with_ui: bool = True, console: Console
) -> None:
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        host, port = split_address(settings.address)
        if settings.is_local_temporal and not is_listening(host, port):
            server = for_settings(
                settings.address, settings.data_dir, ui_port=settings.ui_port if with_ui else None
            )
            await server.astart()
            stack.push_async_callback(server.astop)
            console.print(
                f"Temporal dev server  [bold]{settings.address}[/] (data in {settings.data_dir})"
            )
            if server.ui_url:
                console.print(f"Temporal UI          [bold]{server.ui_url}[/]")
        else:
            console.print(f"Temporal             [bold]{settings.address}[/] (already running)")
        client = await connect(settings, runtime=metrics_runtime(settings.worker_metrics_port))
        store = await Store.open(settings.store_url)
        stack.push_async_callback(store.close)
        worker = BackgroundWorker(
            lambda: build_worker(
                client,
                store,
                task_queue=settings.task_queue,
                allow_faults=settings.allow_faults,
                **worker_options(settings),
            )
        ).start()
        stack.push_async_callback(worker.stop)
        console.print(f"worker               polling task queue [bold]{settings.task_queue}[/]")
        if with_api:
            api = await ApiServer(settings, client, store).start()
            stack.push_async_callback(api.stop)
            base = f"http://{settings.api_host}:{settings.api_port}"
            console.print(f"HTTP API             [bold]{base}/api/orders[/]  (docs: {base}/docs)")
            console.print(f"web console          [bold]{base}/web/[/]")
        console.print("Ctrl-C stops everything.")
        await stop.wait()
        console.print("stopping...")


async def run_api(settings: Settings, *, console: Console) -> None:
    """The API alone (workers and Temporal run elsewhere)."""
    stop = _stop_event()
    client = await connect(settings)
    store = await Store.open(settings.store_url)
    try:
        api = await ApiServer(settings, client, store).start()
        console.print(f"HTTP API on http://{settings.api_host}:{settings.api_port} (web: /web/)")
        await stop.wait()
        await api.stop()
    finally:
        await store.close()
