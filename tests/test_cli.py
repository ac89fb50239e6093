"""The ``orderflow`` command as users run it: a real subprocess against the test dev server.

Subprocesses are awaited with asyncio so the session worker (on this loop) keeps working.
"""

from __future__ import annotations

import json

import pytest

from bench.drillkit import audit
from orderflow.devserver import free_port
from orderflow.store import Store
from tests.clirun import assert_one_line_error, run_cli
from tests.conftest import unique

pytestmark = pytest.mark.usefixtures("worker")


async def test_create_wait_status_list_and_late_cancel(settings, store: Store, order_id, product):
    sku = await product(stock=5)
    created = await run_cli(
        settings, "order", "create", "--customer", "cli-user", "--item", f"{sku}=2",
        "--order-id", order_id, "--wait", "--json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["created"] is True
    assert body["status"]["state"] == "COMPLETED"
    assert await store.stock(sku) == 3

    status = await run_cli(settings, "order", "status", order_id, "--json")
    assert json.loads(status.stdout)["state"] == "COMPLETED"

    listed = await run_cli(settings, "order", "list", "--json", "--limit", "200")
    assert order_id in {row["order_id"] for row in json.loads(listed.stdout)}

    late = await run_cli(settings, "order", "cancel", order_id)
    assert_one_line_error(late, "already COMPLETED")


async def test_cancel_a_running_order(settings, store: Store, order_id, product):
    sku = await product(stock=1)
    created = await run_cli(
        settings, "order", "create", "--customer", "c", "--item", f"{sku}=1",
        "--order-id", order_id, "--step-delay", "20",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    cancelled = await run_cli(settings, "order", "cancel", order_id, "--reason", "test", "--json")
    assert cancelled.code == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["cancel_reason"] == "test"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item", "no-equals-sign"], "SKU=QUANTITY"),
        (["--item", "ceramic-mug=0"], "invalid order"),
        (["--item", "ceramic-mug=99999"], "invalid order"),
        (["--item", "no-such-product=1"], "unknown product"),
        (["--item", "../../etc=1"], "invalid order"),
        (["--item", "ceramic-mug=1", "--faults", "{not json"], "not valid JSON"),
        (["--item", "ceramic-mug=1", "--faults", '{"warp_drive": {}}'], "invalid order"),
        (["--item", "ceramic-mug=1", "--order-id", "a/b"], "invalid order"),
    ],
)
async def test_bad_input_is_one_line_and_starts_nothing(
    settings, store: Store, client, args, message
):
    before_rows = await audit.counts(store)
    customer = unique("bad-input")
    result = await run_cli(settings, "order", "create", "--customer", customer, *args)
    assert_one_line_error(result, message)
    assert await audit.counts(store) == before_rows
    # An order is started with its customer as a search attribute: count this call's only
    # (other tests' orders and their shipment children keep starting on the same server).
    started = await client.count_workflows(f'OrderCustomerId = "{customer}"')
    assert started.count == 0


async def test_unknown_order_and_unreachable_temporal(settings):
    missing = await run_cli(settings, "order", "status", "does-not-exist")
    assert_one_line_error(missing, "not found")
    down = await run_cli(settings, "order", "list", address=f"127.0.0.1:{free_port()}")
    assert_one_line_error(down, "cannot reach Temporal")


async def test_products_lists_the_seeded_catalog(settings):
    result = await run_cli(settings, "products", "--json")
    assert result.code == 0, result.stderr
    skus = {row["sku"] for row in json.loads(result.stdout)}
    assert {"espresso-beans", "ceramic-mug", "burr-grinder"} <= skus
