"""``/docs`` in a real browser with no network: Swagger UI renders every operation of the
schema from the assets the API serves itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("worker")]

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@pytest.fixture
async def offline_page(chromium: Any) -> AsyncIterator[tuple[Any, list[str]]]:
    """A page whose every request to a host other than this machine is aborted (and listed)."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    refused: list[str] = []

    async def local_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await context.route("**/*", local_only)
    yield await context.new_page(), refused
    await context.close()


async def test_docs_render_every_operation_with_no_network(offline_page, console_url, artifacts):
    page, refused = offline_page
    problems = PageProblems(page)
    base = console_url.removesuffix("/web/")
    async with httpx.AsyncClient(base_url=base) as http:
        schema = (await http.get("/openapi.json")).json()
    operations = [
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    ]

    await page.goto(f"{base}/docs")

    blocks = page.locator(".opblock")
    await expect(blocks).to_have_count(len(operations), timeout=20_000)
    for method, path in operations:
        block = page.locator(f'.opblock:has(.opblock-summary-method:text-is("{method}"))')
        await expect(block.filter(has=page.locator(f'[data-path="{path}"]'))).to_have_count(1)
    # An operation opens with its documented statuses and the create's links.
    create = page.locator("#operations-orders-create_order")
    await create.locator(".opblock-summary").click()
    await expect(create.locator(".responses-table")).to_contain_text("422")
    await expect(create).to_contain_text("get_order")
    await page.screenshot(path=str(artifacts / "docs.png"))
    assert refused == [], refused
    assert problems.errors == [], problems.errors
