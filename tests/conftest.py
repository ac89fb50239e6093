"""Shared fixtures: one real Temporal dev server, store and worker for the whole session.

The dev server is started by the project's own helper (``orderflow.devserver``) on free
ports with a throwaway database, exactly as users run it. Tests isolate themselves with
unique order ids and their own products, so they can share the worker and store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.client import Client

from bench.drillkit.polling import eventually, unique
from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.devserver import DevServer, free_port
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.worker import BackgroundWorker, build_worker

__all__ = ["eventually", "unique"]  # re-exported: the tests import both from here

pytest_plugins = ("tests.postgres",)  # the `postgres_cluster` fixture

T = TypeVar("T")
TEST_TASK_QUEUE = "orderflow-tests"


LINK_ENVIRONMENT = (
    "ORDERFLOW_UI_URL",
    "CODESPACE_NAME",
    "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN",
)
"""What changes where Temporal UI links point (``orderflow.links``); the suite expects the
dev server's own UI, wherever it runs (a codespace included)."""


@pytest.fixture(scope="session", autouse=True)
def _links_to_the_dev_server_ui() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in LINK_ENVIRONMENT:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("orderflow-data")


@pytest.fixture(scope="session")
def dev_server(data_dir: Path) -> Iterator[DevServer]:
    server = DevServer(
        port=free_port(),
        ui_port=None,
        db_file=data_dir / "temporal.db",
        log_file=data_dir / "temporal.log",
    )
    server.start()
    assert server.owned, "the test dev server must be our own, not a stray one"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(dev_server: DevServer, data_dir: Path) -> Settings:
    return Settings(
        temporal_address=dev_server.address,
        temporal_namespace="default",
        data_dir=data_dir,
        task_queue=TEST_TASK_QUEUE,
    )


@pytest.fixture(scope="session")
async def client(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings.store_url)
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
async def orders(client: Client, store: Store, settings: Settings) -> Orders:
    """The door to orders on the session's server, store and test task queue."""
    return Orders.from_settings(client, store, settings)


@pytest.fixture(scope="session")
async def worker(
    client: Client, store: Store, settings: Settings
) -> AsyncIterator[BackgroundWorker]:
    running = BackgroundWorker(lambda: build_worker(client, store, settings)).start()
    yield running
    await running.stop()


@pytest.fixture
def order_id(request: pytest.FixtureRequest) -> str:
    return unique(request.node.name[:20].replace("[", "-").replace("]", "").replace("_", "-"))


@pytest.fixture
async def product(store: Store) -> Callable[..., Awaitable[str]]:
    """Factory: a fresh product with the given stock, so tests never share stock."""

    async def make(stock: int = 10, price: str = "10.00") -> str:
        sku = unique("sku")[:32]
        await store.put_product(sku, f"Test product {sku}", Decimal(price), stock)
        return sku

    return make
