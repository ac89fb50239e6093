"""Set-up shared by the history recorder and ``bench/drills.py`` (the tests use fixtures).

``own_server`` starts a file-backed dev server of its own; ``fresh_drill`` gives a drill a
private store, task queue and worker pool under ``root`` and kills its workers on exit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from temporalio.client import Client

from bench.drillkit.polling import unique
from bench.drillkit.procs import WorkerPool
from bench.drillkit.scenarios import Drill
from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port
from orderflow.store import Store


@contextmanager
def own_server(root: Path, name: str = "temporal") -> Iterator[DevServer]:
    server = DevServer(
        port=free_port(),
        ui_port=None,
        db_file=root / f"{name}.db",
        log_file=root / f"{name}.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def fresh_drill(
    server: DevServer,
    client: Client,
    root: Path,
    name: str,
    worker_env: dict[str, str] | None = None,
) -> AsyncIterator[Drill]:
    data_dir = root / name / "data"
    store = await Store.open(Settings(data_dir=data_dir).store_url)
    pool = WorkerPool(
        server.address,
        unique(f"drill-{name}"),
        data_dir,
        root / name / "logs",
        env=dict(worker_env or {}),
    )
    try:
        with pool:
            yield Drill(client=client, store=store, workers=pool)
    finally:
        await store.close()
