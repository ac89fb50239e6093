"""OrderConsole driven like a person would (values, clicks) against the real dev server."""

from __future__ import annotations

import base64

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from bench.drillkit import audit
from orderflow.lab.console import FAULT_PRESETS, OrderConsole
from orderflow.models import OrderState, StepName, order_workflow_id
from orderflow.orders import Orders
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def console(orders):
    made = OrderConsole(orders, refresh_every=None)
    await made.start()
    yield made
    await made.close()


async def click(console: OrderConsole, button) -> object:
    """A click schedules a task; the handler itself must return at once."""
    before = console.last_task
    button.click()
    task = console.last_task
    assert task is not None and task is not before and not task.done()
    return await task


async def test_create_form_places_the_order_and_shows_its_status_and_chart(
    console, client, store, order_id, product, orders
):
    sku = await product(stock=5, price="2.50")
    await console.load_products()
    assert sku in [value for _, value in console.product.options]

    console.product.value = sku
    console.quantity.value = 2
    console.customer.value = "grace"
    console.order_id.value = order_id
    console.faults[StepName.CHARGE_PAYMENT].value = "2 transient failures"
    assert await click(console, console.create_button) == order_id

    assert console.message_text == f"Order {order_id} placed."
    assert console.selected == order_id and console.order_list.value == order_id
    final = await orders.wait(order_id)
    assert final.state == OrderState.COMPLETED
    assert final.step(StepName.CHARGE_PAYMENT).attempts == 3
    assert await store.stock(sku) == 3

    await console.refresh()
    assert console.selected_status is not None
    assert console.selected_status.state == OrderState.COMPLETED
    assert "COMPLETED" in console.status_panel.value
    assert console.cancel_button.disabled  # a completed order cannot be cancelled
    assert order_id in [value for _, value in console.order_list.options]
    (chart,) = console.chart.outputs
    png = base64.b64decode(chart["data"]["image/png"])
    assert png.startswith(b"\x89PNG")


async def test_cancel_button_is_enabled_while_cancellable_and_cancels(
    console, client, store, order_id, product, orders
):
    sku = await product(stock=3)
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    console.step_delay.value = 5.0
    await click(console, console.create_button)
    assert not console.cancel_button.disabled

    console.cancel_reason.value = "ordered by mistake"
    status = await click(console, console.cancel_button)

    assert status.cancel_reason == "ordered by mistake"
    assert console.message_text == f"Cancel of order {order_id} accepted."
    assert console.cancel_button.disabled
    final = await orders.wait(order_id)
    assert final.state == OrderState.CANCELLED
    assert await store.net_charged(order_workflow_id(order_id)) == 0
    assert await store.stock(sku) == 3


async def test_bad_input_is_a_message_and_starts_nothing(console, client, store, order_id):
    counts = await audit.counts(store)
    console.order_id.value = order_id
    console.customer.value = "not valid!"
    assert await click(console, console.create_button) is None

    assert console.message_text.startswith("\N{WARNING SIGN} Invalid customer_id:")
    assert "Traceback" not in console.message.value
    with pytest.raises(RPCError):
        await client.get_workflow_handle(order_workflow_id(order_id)).describe()
    assert await audit.counts(store) == counts

    console.customer.value = "ada"
    console.product.options = [("ghost", "no-such-sku")]
    console.product.value = "no-such-sku"
    await click(console, console.create_button)
    assert console.message_text == "\N{WARNING SIGN} unknown product(s): no-such-sku"


async def test_late_cancel_shows_the_validator_reason(
    console, client, store, order_id, product, orders
):
    sku = await product()
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    await click(console, console.create_button)
    await orders.wait(order_id)

    await click(console, console.cancel_button)  # clicked although disabled: still safe

    assert console.message_text == f"\N{WARNING SIGN} order {order_id} is already COMPLETED"
    assert (await orders.status(order_id)).state == OrderState.COMPLETED


async def test_temporal_down_is_a_message(store, settings, order_id, product):
    sku = await product()
    unreachable = await Client.connect(
        "127.0.0.1:1", lazy=True, data_converter=pydantic_data_converter
    )
    console = OrderConsole(Orders.from_settings(unreachable, store, settings), refresh_every=None)
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    counts = await audit.counts(store)

    await click(console, console.create_button)

    # A one-line reason, not a traceback.
    assert console.message_text.startswith("\N{WARNING SIGN} ")
    assert "\n" not in console.message_text
    assert "not reachable" in console.message_text
    assert "Traceback" not in console.message.value
    assert await audit.counts(store) == counts


async def test_auto_refresh_follows_the_order_to_its_end(orders, order_id, product):
    sku = await product()
    console = OrderConsole(orders, refresh_every=0.1)
    await console.start()
    try:
        console.product.options = [(sku, sku)]
        console.product.value = sku
        console.order_id.value = order_id
        console.step_delay.value = 0.3
        await click(console, console.create_button)

        async def shown_status():
            return console.selected_status  # only the console's own timer updates it

        await eventually(
            shown_status,
            lambda status: status is not None and status.state == OrderState.COMPLETED,
            what="the panel to show COMPLETED without a manual refresh",
        )
        assert console.cancel_button.disabled
    finally:
        await console.close()
    assert console._refresher is None


def test_fault_presets_are_valid_fault_specs():
    from orderflow.models import FaultSpec

    for preset in FAULT_PRESETS.values():
        if preset is not None:
            FaultSpec.model_validate(preset)


def test_widget_comm_messages_drive_the_console_inside_a_real_kernel(tmp_path):
    """What JupyterLab sends: comm messages (value updates, a click) to the kernel.

    The click handler runs in the kernel's message handling; it must schedule the order on
    the kernel's loop and return, and the order must then complete while the kernel idles.
    """
    import json
    import os

    from jupyter_client.manager import start_new_kernel

    from orderflow.devserver import free_port

    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "ORDERFLOW_DATA_DIR": str(tmp_path),
    }
    manager, kernel = start_new_kernel(
        kernel_name="python3", env=env, cwd=str(tmp_path), startup_timeout=120
    )
    try:

        def run(code: str) -> str:
            out: list[str] = []
            reply = kernel.execute_interactive(
                code,
                timeout=60,
                output_hook=lambda msg: out.append(msg["content"].get("text", "")),
            )
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(out)

        def comm(model_id: str, data: dict) -> None:
            message = kernel.session.msg("comm_msg", {"comm_id": model_id, "data": data})
            kernel.shell_channel.send(message)

        ids = json.loads(
            run(
                "import json, orderflow.notebook\n"
                "from orderflow.lab.console import OrderConsole\n"
                "env = await orderflow.notebook.start(ui=False)\n"
                "console = await OrderConsole.open(env, refresh_every=0.2)\n"
                "print(json.dumps({'quantity': console.quantity.model_id,"
                " 'order_id': console.order_id.model_id,"
                " 'create': console.create_button.model_id}))"
            )
        )
        comm(ids["quantity"], {"method": "update", "state": {"value": 3}, "buffer_paths": []})
        comm(
            ids["order_id"],
            {"method": "update", "state": {"value": "via-comm"}, "buffer_paths": []},
        )
        comm(ids["create"], {"method": "custom", "content": {"event": "click"}})

        result = run(
            "await console.last_task\n"
            "final = await env.wait('via-comm')\n"
            "print(console.message_text, final.state.value, final.lines[0].quantity)"
        )
        assert result.split() == ["Order", "via-comm", "placed.", "COMPLETED", "3"]
        run("await console.close()\nawait env.stop()")
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


async def test_review_buttons_decide_an_order_awaiting_review(console, orders, order_id, product):
    sku = await product(stock=2, price="900.00")
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    await click(console, console.create_button)
    await eventually(
        lambda: orders.status(order_id),
        lambda s: s.state == OrderState.AWAITING_REVIEW,
        what="awaiting review",
    )
    await console.refresh_selected()
    assert not console.approve_button.disabled and not console.reject_button.disabled
    assert "awaiting a decision until" in console.status_panel.value

    console.reviewer.value = "widget reviewer"
    decided = await click(console, console.approve_button)

    assert decided is not None and decided.review.reviewer == "widget reviewer"
    assert console.message_text == f"Order {order_id} approved."
    assert (await orders.wait(order_id)).state == OrderState.COMPLETED
    await console.refresh_selected()
    assert console.approve_button.disabled and console.reject_button.disabled
    await click(console, console.reject_button)  # clicked although disabled: a clear "no"
    assert "not awaiting review" in console.message_text


async def test_cancel_by_signal_from_the_console(console, orders, order_id, product):
    sku = await product(stock=2)
    console.product.options = [(sku, sku)]
    console.product.value = sku
    console.order_id.value = order_id
    console.step_delay.value = 20
    await click(console, console.create_button)
    console.cancel_door.value = "signal"
    await click(console, console.cancel_button)
    assert console.message_text == f"Cancel signal sent to order {order_id}."
    final = await orders.wait(order_id)
    assert final.state == OrderState.CANCELLED


async def test_status_panel_links_the_order_into_the_temporal_ui(orders, order_id, product):
    sku = await product(stock=2)
    linked = OrderConsole(orders, refresh_every=None, ui_url="https://cloud.temporal.io")
    plain = OrderConsole(orders, refresh_every=None)
    try:
        for console in (linked, plain):
            await console.start()
        placed = order_id
        linked.product.options = [(sku, sku)]
        linked.product.value = sku
        linked.order_id.value = placed
        assert await click(linked, linked.create_button) == placed
        await orders.wait(placed)
        await linked.refresh()
        await plain.refresh(select=placed)
        href = f"https://cloud.temporal.io/namespaces/default/workflows/{order_workflow_id(placed)}"
        assert f'href="{href}"' in linked.status_panel.value
        assert placed in plain.status_panel.value and "Temporal UI" not in plain.status_panel.value
    finally:
        for console in (linked, plain):
            await console.close()
