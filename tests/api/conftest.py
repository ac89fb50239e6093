"""One API server for the API tests: the real app over real HTTP, sharing the session's
dev server, client, store and worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from orderflow.api import create_app
from tests.apiserver import serve


@pytest.fixture(scope="session")
async def api_url(settings, orders, worker) -> AsyncIterator[str]:
    async with serve(create_app(settings, orders=orders)) as url:
        yield url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as session:
        yield session
