"""Playwright (async API) driving Debian's Chromium against the real app, worker and store.

No ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (or
``ORDERFLOW_CHROMIUM``). Without it these tests skip, unless ``ORDERFLOW_REQUIRE_BROWSER=1``
(CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orderflow.api import create_app
from tests.apiserver import serve

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("ORDERFLOW_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ORDERFLOW_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("ORDERFLOW_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        _unavailable(f"no Chromium at {path} (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
async def chromium(chromium_path: str) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def console_url(settings, orders, worker) -> AsyncIterator[str]:
    async with serve(create_app(settings, orders=orders)) as url:
        yield f"{url}/web/"


class PageProblems:
    """JavaScript errors, console errors (CSP violations land here) and dialogs of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        page.on("dialog", self._on_dialog)
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
        )

    async def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()


@pytest.fixture
async def console_page(chromium: Any) -> AsyncIterator[Any]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    yield await context.new_page()
    await context.close()


@pytest.fixture
def problems(console_page: Any) -> PageProblems:
    return PageProblems(console_page)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
