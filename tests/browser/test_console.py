"""The web console in a real browser: place, watch, cancel, hostile text, layout at two widths.

The page, the API, the worker and the store are all real; the test clicks and types like a
person and reads what the page shows.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from orderflow.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("worker")]

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
SLOW = 30_000  # ms: generous upper bound for an order to settle on a busy 2-core machine


async def open_console(page: Any, url: str, sku: str) -> None:
    """Load the console and order one unit of ``sku`` only."""
    await page.goto(url)
    await expect(page.locator(f'input.qty[data-sku="{sku}"]')).to_be_visible()
    for quantity in await page.locator("input.qty").all():
        await quantity.fill("0")
    await page.locator(f'input.qty[data-sku="{sku}"]').fill("1")


async def place(page: Any) -> str:
    await page.locator("#create-button").click()
    message = page.locator("#message")
    await expect(message).to_contain_text("placed")
    detail_id = page.locator("#detail-id")
    await expect(detail_id).not_to_be_empty()  # the new order is selected in the detail panel
    return (await detail_id.text_content()) or ""


async def test_order_placed_in_the_page_reaches_completed(
    console_page, problems, console_url, product, store: Store, artifacts, settings
):
    page = console_page
    sku = await product(stock=10, price="12.50")
    await open_console(page, console_url, sku)
    await page.locator("#customer-name").fill("Ada Lovelace")

    order_id = await place(page)

    await expect(page.locator("#detail-state")).to_have_text("COMPLETED", timeout=SLOW)
    for step in ("reserve_inventory", "charge_payment", "ship", "notify_customer"):
        await expect(page.locator(f'tr[data-step="{step}"] .step-status')).to_have_text("completed")
    await expect(page.locator('tr[data-step="review"] .step-status')).to_have_text("skipped")
    await expect(page.locator("#detail-shipment")).to_contain_text("dispatched (TRK-")
    await expect(page.locator("#detail-total")).to_have_text("12.50 USD")
    await expect(page.locator("#cancel-button")).to_be_disabled()
    await expect(page.locator("#timeline rect.bar.completed")).to_have_count(5)
    await expect(page.locator("#payment-list")).to_contain_text("charge 12.50 USD")
    link = await page.locator("#detail-workflow-link").get_attribute("href")
    assert link == (
        f"http://127.0.0.1:{settings.ui_port}/namespaces/default/workflows/order-{order_id}"
    )
    row = page.locator(f'.order-row[data-order-id="{order_id}"]')
    await expect(row.locator(".badge")).to_have_text("COMPLETED", timeout=SLOW)
    assert await store.stock(sku) == 9
    await expect(page.locator(f'td.stock[data-sku="{sku}"]')).to_have_text("9")

    await page.screenshot(path=str(artifacts / "console.png"), full_page=True)
    assert problems.errors == [] and problems.dialogs == []


async def test_slow_order_is_cancelled_with_the_button(
    console_page, problems, console_url, product, store: Store
):
    page = console_page
    sku = await product(stock=4)
    await open_console(page, console_url, sku)
    await page.locator("#demo-knobs summary").click()
    await page.locator("#step-delay").fill("3")

    order_id = await place(page)

    cancel = page.locator("#cancel-button")
    await expect(cancel).to_be_enabled(timeout=SLOW)
    await cancel.click()
    await expect(page.locator("#detail-state")).to_have_text("CANCELLED", timeout=SLOW)
    await expect(cancel).to_be_disabled()
    await expect(page.locator("#detail-cancel-reason")).to_have_text(
        "cancelled from the web console"
    )
    row = page.locator(f'.order-row[data-order-id="{order_id}"]')
    await expect(row.locator(".badge")).to_have_text("CANCELLED", timeout=SLOW)
    assert await store.stock(sku) == 4, "the reservation was released"
    assert problems.errors == [] and problems.dialogs == []


@pytest.mark.parametrize(("button", "final"), [("approve", "COMPLETED"), ("reject", "CANCELLED")])
async def test_an_order_awaiting_review_is_approved_or_rejected_with_the_buttons(
    console_page, problems, console_url, product, store: Store, button: str, final: str
):
    page = console_page
    sku = await product(stock=3, price="640.00")
    await open_console(page, console_url, sku)

    order_id = await place(page)

    await expect(page.locator("#detail-state")).to_have_text("AWAITING_REVIEW", timeout=SLOW)
    await expect(page.locator("#review-panel")).to_be_visible()
    await page.locator("#state-filter").select_option("AWAITING_REVIEW")
    row = page.locator(f'.order-row[data-order-id="{order_id}"]')
    await expect(row.locator(".badge")).to_have_text("AWAITING_REVIEW", timeout=SLOW)
    await page.locator("#reviewer").fill("web reviewer")
    await page.locator(f"#{button}-button").click()

    await expect(page.locator("#detail-state")).to_have_text(final, timeout=SLOW)
    await expect(page.locator(f"#{button}-button")).to_be_disabled()
    await expect(page.locator("#review-decision")).to_contain_text(f"{button}d by web reviewer")
    await expect(row).to_have_count(0, timeout=SLOW)  # no longer awaiting review: filtered out
    assert await store.stock(sku) == (2 if final == "COMPLETED" else 3)
    assert problems.errors == [] and problems.dialogs == []


async def test_hostile_customer_name_is_shown_as_text_and_runs_nothing(
    console_page, problems, console_url, product
):
    page = console_page
    sku = await product()
    await open_console(page, console_url, sku)
    await page.locator("#customer-name").fill(HOSTILE_NAME)

    await place(page)

    customer = page.locator("#detail-customer")
    await expect(customer).to_contain_text(HOSTILE_NAME)
    assert await page.locator("img").count() == 0, "the name must not become an element"
    await expect(page.locator("#detail-state")).to_have_text("COMPLETED", timeout=SLOW)
    assert await page.locator("img").count() == 0
    assert problems.dialogs == [], "no script may run"
    assert problems.errors == []


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
async def test_layout_fits_the_width_without_horizontal_scroll(
    chromium, console_url, product, width, height, artifacts
):
    context = await chromium.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    try:
        sku = await product()
        await open_console(page, console_url, sku)
        await page.locator("#customer-name").fill("A-very-long-customer-name-" * 4)
        await place(page)
        await expect(page.locator("#detail-state")).to_have_text("COMPLETED", timeout=SLOW)
        await expect(page.locator("#timeline rect.bar")).to_have_count(
            5
        )  # reserve, charge, pack, dispatch, notify

        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"page scrolls sideways by {overflow}px at {width}px"
        form = await page.locator("#create-form").bounding_box()
        detail = await page.locator("#detail").bounding_box()
        assert form and detail
        assert form["x"] + form["width"] <= width and detail["x"] + detail["width"] <= width
        if width >= 1000:
            assert detail["x"] > form["x"] + form["width"] - 1, "two columns on a wide screen"
        else:
            assert detail["y"] > form["y"], "one column on a phone"
        await page.screenshot(path=str(artifacts / f"console-{width}.png"), full_page=True)
    finally:
        await context.close()


@pytest.mark.parametrize(
    ("ui_url", "expected"),
    [
        ("https://ui.example.com/temporal", "https://ui.example.com/temporal/namespaces/default"),
        (None, None),  # a remote cluster with no configured UI: no links at all
    ],
)
async def test_links_follow_the_api_config(
    console_page, problems, orders, settings, product, ui_url, expected
):
    from orderflow.api import create_app
    from orderflow.config import Settings
    from tests.apiserver import serve

    linked = Settings(  # type: ignore[call-arg]
        _env_file=None,
        temporal_address="temporal.internal:7233",
        task_queue=settings.task_queue,
        ui_url=ui_url,
    )
    sku = await product(stock=2)
    async with serve(create_app(linked, orders=orders)) as url:
        page = console_page
        await open_console(page, f"{url}/web/", sku)
        order_id = await place(page)
        header = page.locator("#temporal-ui-link")
        detail = page.locator("#detail-workflow-link")
        await expect(detail).to_have_text(f"order-{order_id}")
        if expected is None:
            await expect(header).to_be_hidden()
            assert await detail.get_attribute("href") is None
        else:
            assert await header.get_attribute("href") == f"{expected}/workflows"
            assert await detail.get_attribute("href") == f"{expected}/workflows/order-{order_id}"
        await expect(page.locator("#detail-state")).to_have_text("COMPLETED", timeout=SLOW)
        assert problems.errors == [] and problems.dialogs == []
        await page.goto("about:blank")  # stop the page polling before its server stops
