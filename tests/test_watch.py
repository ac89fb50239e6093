"""Watching an order live: ``order create --wait`` and ``order status --watch``.

The plain mode runs as users meet it when output is piped: the real ``orderflow`` command
as a subprocess against the session's dev server and worker. The Rich view runs in-process
on a recording terminal console.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from orderflow.models import OrderRequest, OrderState, OrderStatus, StepName, StepState, StepStatus
from orderflow.orders import Orders
from orderflow.watch import PlainReport, step_line, watch_order
from tests.clirun import run_cli

pytestmark = pytest.mark.usefixtures("worker")

TWO_FAILURES = '{"charge_payment": {"fail_first_n": 2}}'
LINE = re.compile(r"^\d\d:\d\d:\d\d (.*)$")


def story(stdout: str) -> list[str]:
    """The change lines of the plain report, without their time stamps."""
    return [m.group(1) for line in stdout.splitlines() if (m := LINE.match(line))]


async def test_create_wait_shows_the_retries_as_plain_lines(settings, order_id, product):
    sku = await product(stock=3)
    result = await run_cli(
        settings, "order", "create", "--customer", "watcher", "--item", f"{sku}=1",
        "--order-id", order_id, "--faults", TWO_FAILURES, "--wait",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "\x1b[" not in result.stdout, "piped output carries no terminal escape codes"
    lines = story(result.stdout)
    assert lines[0].startswith(f"order {order_id}: "), lines
    retrying = [line for line in lines if line.startswith("  charge_payment: retrying, attempt")]
    assert retrying, lines  # the 1 s and 2 s backoffs are each seen by a 0.5 s poll
    assert "(last error: " in retrying[0] and re.search(r" in \d+\.\d s| now", retrying[0])
    assert "  charge_payment: completed after 3 attempts" in lines
    assert "  reserve_inventory: completed after 1 attempt" in lines
    assert lines[-1] == f"order {order_id}: COMPLETED"
    assert len(lines) == len(set(lines)), "one line per change, no repeats"
    # Then the final status, as without --wait's live view.
    assert re.search(r"charge_payment\s+│\s+completed\s+│\s+3", result.stdout), result.stdout


async def test_status_watch_follows_a_running_order_and_links_it(
    settings, orders: Orders, order_id, product
):
    sku = await product(stock=3)
    await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "watcher",
                "items": [{"sku": sku, "quantity": 1}],
                # ~8 s in all: the CLI process must start and poll before the order ends,
                # which takes seconds on a loaded machine (parallel test workers).
                "step_delay": 2.0,
            }
        )
    )
    result = await run_cli(settings, "order", "status", order_id, "--watch")
    assert result.code == 0, result.stderr
    lines = story(result.stdout)
    assert f"order {order_id}: COMPLETED" == lines[-1], lines
    assert any(line.startswith(f"order {order_id}: PROCESSING") for line in lines), lines
    link = f"Temporal UI: http://127.0.0.1:8080/namespaces/default/workflows/order-{order_id}"
    assert link in result.stdout.splitlines()
    again = await run_cli(settings, "order", "status", order_id, "--watch", "--json")
    assert again.code == 0 and '"state": "COMPLETED"' in again.stdout


async def test_the_live_view_on_a_terminal_ends_with_the_final_status(
    orders: Orders, order_id, product
):
    sku = await product(stock=3)
    request = OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": "watcher",
            "items": [{"sku": sku, "quantity": 1}],
            "faults": {"charge_payment": {"fail_first_n": 1}},
        }
    )
    await orders.place(request)
    console = Console(force_terminal=True, record=True, width=160)
    final = await watch_order(orders, order_id, console, every=0.2, timeout=60)
    assert final.state == OrderState.COMPLETED
    assert final.step(StepName.CHARGE_PAYMENT).attempts == 2
    shown = console.export_text()
    assert "next retry" in shown and "charge_payment" in shown  # the table was drawn


def test_a_step_line_says_what_a_person_needs() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    step = StepState(
        name=StepName.CHARGE_PAYMENT,
        status=StepStatus.RETRYING,
        attempts=2,
        last_error="TransientError: gateway timeout",
        next_attempt_at=now + timedelta(seconds=1.5),
    )
    assert step_line(step, now) == (
        "charge_payment: retrying, attempt 2 in 1.5 s (last error: TransientError: gateway timeout)"
    )
    running = step.model_copy(update={"status": StepStatus.RUNNING, "next_attempt_at": None})
    assert step_line(running, now).startswith("charge_payment: running, attempt 2 (last error")
    failed = step.model_copy(update={"status": StepStatus.FAILED, "attempts": 8})
    assert step_line(failed, now) == (
        "charge_payment: failed after 8 attempts (last error: TransientError: gateway timeout)"
    )


def test_the_plain_report_prints_only_changes() -> None:
    console = Console(record=True, width=200)
    report = PlainReport(console)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    status = OrderStatus(
        order_id="o1",
        workflow_id="order-o1",
        customer_id="c",
        state=OrderState.PROCESSING,
        current_step=StepName.RESERVE_INVENTORY,
        steps=[StepState(name=name) for name in StepName],
        created_at=now,
        updated_at=now,
    )
    report.show(status)
    report.show(status)  # nothing changed: nothing printed
    status.steps[0].status, status.steps[0].attempts = StepStatus.RUNNING, 1
    report.show(status)
    assert story(console.export_text()) == [
        "order o1: PROCESSING at reserve_inventory",
        "  reserve_inventory: running, attempt 1",
    ]
