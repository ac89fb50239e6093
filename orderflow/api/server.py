"""Serve the API with uvicorn as a task on the running event loop (``orderflow up``/``api``)."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import TYPE_CHECKING

from orderflow.config import Settings
from orderflow.orders import Orders

if TYPE_CHECKING:
    from orderflow.supervisor import WorkerSupervisor


class ApiServer:
    """uvicorn serving the FastAPI app as a task on the running loop.

    uvicorn captures SIGINT/SIGTERM while it serves and re-raises them after a graceful
    exit, so Ctrl-C first stops the API and then reaches the stack's own stop event.
    """

    def __init__(
        self, settings: Settings, orders: Orders, *, workers: WorkerSupervisor | None = None
    ) -> None:
        import uvicorn

        from orderflow.api.app import create_app

        config = uvicorn.Config(
            create_app(settings, orders=orders, workers=workers),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            log_config=None,  # uvicorn's records go through our handler and format
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        config = self.server.config
        return f"http://{config.host}:{config.port}"

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
