"""Validation of the create payload: bad input is refused before anything starts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orderflow.models import (
    OrderRequest,
    OrderState,
    StepName,
    order_id_from_workflow_id,
    order_workflow_id,
)

VALID: dict[str, Any] = {"customer_id": "c-1", "items": [{"sku": "ceramic-mug", "quantity": 2}]}


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def test_minimal_request_gets_a_generated_order_id() -> None:
    request = OrderRequest.model_validate(VALID).with_order_id()
    assert request.order_id and len(request.order_id) == 16
    assert request.workflow_id == order_workflow_id(request.order_id)
    assert order_id_from_workflow_id(request.workflow_id) == request.order_id


@pytest.mark.parametrize(
    "body",
    [
        with_(items=[]),
        with_(items=[{"sku": "ceramic-mug", "quantity": 0}]),
        with_(items=[{"sku": "ceramic-mug", "quantity": -1}]),
        with_(items=[{"sku": "ceramic-mug", "quantity": 1001}]),
        with_(items=[{"sku": "ceramic-mug", "quantity": "two"}]),
        with_(items=[{"sku": "ceramic-mug", "quantity": 1, "price": 0.01}]),
        with_(items=[{"sku": "../etc/passwd", "quantity": 1}]),
        with_(items=[{"sku": "a", "quantity": 1}, {"sku": "a", "quantity": 2}]),
        with_(items=[{"sku": f"s{n}", "quantity": 1} for n in range(51)]),
        with_(order_id="../../x"),
        with_(order_id="a" * 65),
        with_(order_id=""),
        with_(customer_id=""),
        with_(customer_id="x" * 65),
        with_(customer_name="x" * 201),
        with_(step_delay=-1),
        with_(step_delay=61),
        with_(faults={"charge_payment": {"fail_first_n": 21}}),
        with_(faults={"charge_payment": {"fail_rate": 1.5}}),
        with_(faults={"ship_it": {"permanent": True}}),
        with_(faults={"charge_payment": {"explode": True}}),
        with_(retry={"initial_interval": 0}),
        with_(total=1),
        {"items": VALID["items"]},
    ],
)
def test_invalid_requests_are_rejected(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OrderRequest.model_validate(body)


def test_names_are_stable() -> None:
    # Other languages' clients rely on these exact strings.
    assert [step.value for step in StepName] == [
        "reserve_inventory",
        "review",
        "charge_payment",
        "ship",
        "notify_customer",
    ]
    assert {state for state in OrderState if state.is_final} == {
        OrderState.COMPLETED,
        OrderState.FAILED,
        OrderState.CANCELLED,
    }


def test_fingerprint_ignores_absent_fields_but_not_values() -> None:
    a = OrderRequest.model_validate(with_(order_id="x"))
    b = OrderRequest.model_validate(with_(order_id="x", faults=None))
    c = OrderRequest.model_validate(with_(order_id="x", customer_id="other"))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
