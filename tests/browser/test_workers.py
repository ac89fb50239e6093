"""The web console's worker controls in a real browser against ``orderflow up
--worker-processes 1`` (its own dev server, worker process, API): kill the worker mid-order,
start it again, and the order completes with one charge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.test_console import open_console, place
from tests.upprocess import orderflow_up

pytestmark = [pytest.mark.browser]

SLOW = 60_000  # ms: an order that loses its worker waits for timeouts and a new process
SKU = "pour-over-kit"


@pytest.fixture(scope="module")
async def up_url(tmp_path_factory) -> AsyncIterator[str]:
    data_dir = tmp_path_factory.mktemp("up-worker-processes")
    async with orderflow_up(data_dir, args=("--worker-processes", "1")) as url:
        yield url


def worker_row(page: Any, name: str = "worker-1") -> Any:
    return page.locator(f'.worker-row[data-worker="{name}"]')


async def test_kill_the_worker_mid_order_start_it_again_one_charge(console_page, up_url, artifacts):
    page = console_page
    await open_console(page, f"{up_url}/web/", SKU)
    row = worker_row(page)
    await expect(row.locator(".worker-state")).to_have_text("running", timeout=SLOW)
    await expect(row.locator('button[data-action="start"]')).to_be_disabled()
    await page.locator("#demo-knobs summary").click()
    await page.locator("#fault-charge_payment").select_option("slow")  # the charge takes 3 s

    order_id = await place(page)
    await expect(page.locator("#detail-step")).to_have_text("charge_payment", timeout=SLOW)
    await expect(page.locator("#detail-pending")).to_contain_text("charge payment: attempt 1")
    await expect(page.locator("#timeline rect.bar.running")).to_have_count(1)  # it has begun

    await row.locator('button[data-action="kill"]').click()
    await expect(page.locator("#message")).to_have_text("worker-1: killed.")
    await expect(row.locator(".worker-state")).to_have_text("killed")
    await expect(page.locator("#detail-state")).to_have_text("PROCESSING")
    await page.screenshot(path=str(artifacts / "console-worker-killed.png"), full_page=True)

    await row.locator('button[data-action="start"]').click()
    await expect(row.locator(".worker-state")).to_have_text("running", timeout=SLOW)
    await expect(page.locator("#detail-state")).to_have_text("COMPLETED", timeout=SLOW)
    await expect(page.locator("#payment-list li:not(.net)")).to_have_count(1)
    await expect(page.locator("#payment-list")).to_contain_text("charge 39.90 USD")
    await expect(page.locator("#payment-list .net")).to_have_text("net charged 39.90 USD")
    async with httpx.AsyncClient(base_url=up_url) as http:
        ledger = (await http.get(f"/api/orders/{order_id}/payments")).json()
        attempts = (await http.get(f"/api/orders/{order_id}/timeline")).json()["attempts"]
    assert [entry["kind"] for entry in ledger["entries"]] == ["charge"]
    # Two charge attempts: the one lost with the killed process, the one that counted.
    charges = [a for a in attempts if a["step"] == "charge_payment"]
    assert len(charges) == 2 and charges[0]["worker"] == "worker-1.1"
    assert charges[-1]["worker"] == "worker-1.2" and charges[-1]["outcome"] == "completed"


async def test_an_in_process_worker_shows_no_controls(console_page, console_url):
    page = console_page
    await page.goto(console_url)
    await expect(page.locator("#worker-list")).to_contain_text("No worker processes to show.")
    await expect(page.locator("#workers-note")).to_contain_text("--worker-processes")
    await expect(page.locator(".worker-row button")).to_have_count(0)
