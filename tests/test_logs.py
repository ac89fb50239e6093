"""Log lines: one line per event, no tracebacks for expected failures, JSON on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from orderflow import logs
from orderflow.models import ErrorType, OrderRequest, OrderState

POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=4,
)


def transient(message: str = "gateway timed out") -> ApplicationError:
    return ApplicationError(message, type=ErrorType.TRANSIENT.value)


@pytest.mark.parametrize(
    ("attempt", "error", "policy", "next_step"),
    [
        (1, transient(), POLICY, "retry in 1 s"),
        (2, transient(), POLICY, "retry in 2 s"),
        (3, transient(), POLICY, "retry in 4 s"),  # 1 s doubled twice
        (4, transient(), POLICY, "no attempts left of 4"),
        (
            2,
            transient(),
            RetryPolicy(
                initial_interval=timedelta(seconds=3), maximum_interval=timedelta(seconds=4)
            ),
            "retry in 4 s",  # 6 s capped at the maximum interval
        ),
        (
            1,
            transient(),
            RetryPolicy(initial_interval=timedelta(milliseconds=100)),
            "retry in 100 ms",
        ),
        (1, ApplicationError("no", type="CardDeclined", non_retryable=True), POLICY, "not retried"),
        (
            1,
            transient(),
            RetryPolicy(non_retryable_error_types=[ErrorType.TRANSIENT.value]),
            "not retried",
        ),
        (
            1,
            ApplicationError("slow down", next_retry_delay=timedelta(seconds=7)),
            POLICY,
            "retry in 7 s",
        ),
        (1, transient(), None, "retried by the server's default policy"),
    ],
)
def test_next_step_follows_the_retry_policy(attempt, error, policy, next_step):
    assert logs.next_step(attempt, error, policy) == next_step


def test_a_failed_attempt_is_one_line():
    line = logs.attempt_failed_line("42", "charge_payment", 2, transient(), POLICY)

    assert line == (
        f"order 42: charge_payment attempt 2 failed: {ErrorType.TRANSIENT.value}: "
        "gateway timed out (retry in 2 s)"
    )
    bug = logs.attempt_failed_line("42", "charge_payment", 1, KeyError("sku"), POLICY)
    assert bug == "order 42: charge_payment attempt 1 failed: KeyError: 'sku' (retry in 1 s)"


def sdk_failure_record(error: BaseException) -> logging.LogRecord:
    """The record the SDK logs for a failed activity attempt (with its traceback)."""
    try:
        raise error
    except BaseException as raised:
        record = logging.LogRecord(
            "temporalio.activity", logging.WARNING, __file__, 1, "Completing activity as failed",
            None, (type(raised), raised, raised.__traceback__),
        )  # fmt: skip
    record.__dict__["__temporal_error_identifier"] = "ActivityFailure"
    return record


def test_the_sdk_traceback_is_dropped_only_for_expected_failures():
    keep = logs.ExpectedFailureFilter().filter

    assert not keep(sdk_failure_record(transient()))
    assert not keep(sdk_failure_record(ApplicationError("x", type=ErrorType.CARD_DECLINED.value)))
    # A real bug, or an ApplicationError of a type the kit does not raise, keeps it.
    assert keep(sdk_failure_record(ZeroDivisionError("division by zero")))
    assert keep(sdk_failure_record(ApplicationError("x", type="SomethingElse")))
    # Any other record passes untouched, traceback or not.
    other = sdk_failure_record(transient())
    other.__dict__["__temporal_error_identifier"] = None
    assert keep(other)


def test_json_lines_carry_the_sdk_details_as_fields():
    record = logging.LogRecord(
        "temporalio.activity", logging.INFO, __file__, 1, "order %s: charged", ("42",), None
    )
    record.temporal_activity = {
        "activity_type": "charge_payment",
        "attempt": 2,
        "workflow_id": "order-42",
    }

    line = json.loads(logs.JsonFormatter().format(record))

    assert line["message"] == "order 42: charged"
    assert line["level"] == "INFO" and line["logger"] == "temporalio.activity"
    assert (line["activity_type"], line["attempt"], line["workflow_id"]) == (
        "charge_payment",
        2,
        "order-42",
    )
    assert line["time"].endswith("+00:00")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the worker (running in this process) logs, through the kit's text handler."""
    stream = io.StringIO()
    handler = logs.handler("text", stream)
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


async def test_a_retried_order_logs_one_line_per_attempt_and_no_traceback(
    orders, worker, order_id, product, captured
):
    sku = await product(stock=3)
    await orders.place(
        OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "c",
                "items": [{"sku": sku, "quantity": 1}],
                "faults": {"charge_payment": {"fail_first_n": 2}},
                "retry": {"initial_interval": 0.1, "backoff_coefficient": 2.0},
            }
        )
    )

    assert (await orders.wait(order_id, timeout=30)).state == OrderState.COMPLETED

    mine = [line for line in captured.getvalue().splitlines() if f"order {order_id}:" in line]
    failed = [line for line in mine if " failed: " in line]
    assert [line.split(f"order {order_id}: ", 1)[1] for line in failed] == [
        f"charge_payment attempt 1 failed: {ErrorType.TRANSIENT.value}: "
        "payment gateway timed out (simulated, attempt 1) (retry in 100 ms)",
        f"charge_payment attempt 2 failed: {ErrorType.TRANSIENT.value}: "
        "payment gateway timed out (simulated, attempt 2) (retry in 200 ms)",
    ]
    assert any(line.endswith(f"order {order_id}: COMPLETED") for line in mine), mine
    assert "Traceback" not in captured.getvalue()
    assert "Completing activity as failed" not in captured.getvalue()
    # The SDK's details dict stays off the message.
    assert not any("'workflow_id'" in line or "'activity_id'" in line for line in mine), mine
