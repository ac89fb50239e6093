"""Fixtures for the drills: a private store, task queue and worker-process pool per test.

Drills count rows and stock across the whole store, so each gets its own SQLite file and
task queue (the session dev server is shared). Worker processes are killed in teardown,
whether the test passed or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from orderflow.config import Settings
from orderflow.devserver import DevServer
from orderflow.store import Store
from tests.conftest import unique
from tests.procs import WorkerPool
from tests.reliability.scenarios import Drill


@pytest.fixture
def drill_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def workers(dev_server: DevServer, drill_dir: Path, tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(
        address=dev_server.address,
        task_queue=unique("drill"),
        data_dir=drill_dir,
        log_dir=tmp_path / "logs",
    )
    with pool:
        yield pool


@pytest.fixture
async def drill_store(drill_dir: Path) -> AsyncIterator[Store]:
    store = await Store.open(Settings(data_dir=drill_dir).store_url)
    yield store
    await store.close()


@pytest.fixture
def drill(client: Client, drill_store: Store, workers: WorkerPool) -> Drill:
    return Drill(client=client, store=drill_store, workers=workers)


def assert_held(report: object) -> None:
    """Fail with every broken guarantee listed, not only the first."""
    violations = getattr(report, "violations", [])
    assert not violations, "\n".join(violations)
