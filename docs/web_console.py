"""Regenerate ``docs/web-console.png``: the web console with an order awaiting review.

Runs the real stack on a throwaway dev server (free ports, temporary data dir: worker, API
and console), places a few demo orders from the demo catalog - one completed after two
payment retries, one cancelled, one failed (card declined) and one of four burr grinders
(516.00, above the 500.00 review threshold) that waits for a reviewer - then opens the
console in Debian's Chromium through Playwright, selects the order awaiting review (its
Approve/Reject panel) and saves the page. Needs ``/usr/bin/chromium`` (or
``ORDERFLOW_CHROMIUM``); never downloads a browser.

Usage: ``python docs/web_console.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

from orderflow.config import Settings
from orderflow.devserver import free_port
from orderflow.models import OrderRequest, OrderState
from orderflow.orders import Orders
from orderflow.stack import open_stack

OUTPUT = Path(__file__).with_name("web-console.png")
CHROMIUM = os.environ.get("ORDERFLOW_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
SETTLE = 30.0
"""Seconds each demo order may take to reach the state shown."""

DEMO_ORDERS = (
    ("A-1001", "ada", "Ada Lovelace", {"espresso-beans": 2, "ceramic-mug": 1}, None),
    ("A-1002", "grace", "Grace Hopper", {"pour-over-kit": 1}, {"step_delay": 5}),
    ("A-1003", "alan", "Alan Turing", {"filter-papers": 3, "espresso-beans": 1},
     {"faults": {"charge_payment": {"fail_first_n": 2}}}),
    ("A-1004", "edsger", "Edsger Dijkstra", {"ceramic-mug": 2},
     {"faults": {"charge_payment": {"permanent": True}}}),
    ("A-1005", "barbara", "Barbara Liskov", {"burr-grinder": 4}, None),
)  # fmt: skip
"""(order id, customer id, name, sku -> quantity, extra request fields)."""
AWAITING_REVIEW = "A-1005"


async def place_demo_orders(orders: Orders) -> None:
    for order_id, customer_id, name, items, extra in DEMO_ORDERS:
        await orders.place(
            OrderRequest.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "customer_name": name,
                    "items": [{"sku": sku, "quantity": n} for sku, n in items.items()],
                    **(extra or {}),
                }
            )
        )
    await orders.cancel("A-1002", "customer changed their mind")
    for order_id, *_ in DEMO_ORDERS:
        if order_id != AWAITING_REVIEW:
            await orders.wait(order_id, SETTLE)
    deadline = asyncio.get_running_loop().time() + SETTLE
    while (await orders.status(AWAITING_REVIEW)).state != OrderState.AWAITING_REVIEW:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{AWAITING_REVIEW} did not reach AWAITING_REVIEW")
        await asyncio.sleep(0.1)


async def screenshot(url: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = await browser.new_page(
                viewport=VIEWPORT, locale="en-US", timezone_id="UTC", color_scheme="light"
            )
            await page.goto(url)
            row = page.locator(f'.order-row[data-order-id="{AWAITING_REVIEW}"]')
            await row.click()
            await expect(page.locator("#detail-state")).to_have_text("AWAITING_REVIEW")
            await expect(page.locator("#approve-button")).to_be_enabled()
            await expect(page.locator("#reject-button")).to_be_enabled()
            await expect(page.locator("#payment-list")).to_contain_text("No payments")
            await page.locator("#reviewer").fill("lin")
            await page.locator("#review-note").fill("large order: check the address")
            await page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
            await page.mouse.move(0, 0)  # and no hover highlight
            await page.screenshot(path=str(OUTPUT), full_page=True)
        finally:
            await browser.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            temporal_address=f"127.0.0.1:{free_port()}",
            api_port=free_port(),
            data_dir=Path(data_dir),
        )
        async with open_stack(settings, devserver="auto", worker=True, api=True, ui=False) as stack:
            await place_demo_orders(stack.orders)
            await screenshot(f"http://127.0.0.1:{settings.api_port}/web/")


if __name__ == "__main__":
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    logging.basicConfig(level=logging.ERROR)  # the demo's simulated failures are expected
    asyncio.run(main())
