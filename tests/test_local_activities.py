"""``local_activities``: the order's steps as local activities (the latency option).

Same business outcome as the default (stock, money, attempts), but the history shows
local-activity markers instead of scheduled activity tasks. The default stays remote.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType

from orderflow.models import OrderRequest, OrderState, StepStatus

pytestmark = pytest.mark.usefixtures("worker")

DEFAULT_ORDER_STEPS_DONE = [
    StepStatus.COMPLETED,  # reserve_inventory
    StepStatus.SKIPPED,  # review: below the threshold
    StepStatus.COMPLETED,  # charge_payment
    StepStatus.COMPLETED,  # ship
    StepStatus.COMPLETED,  # notify_customer
]


async def place(orders, order_id, sku, **extra) -> OrderRequest:
    request = OrderRequest.model_validate(
        {"order_id": order_id, "customer_id": "cust-local", "items": [{"sku": sku, "quantity": 2}]}
        | extra
    )
    placed = await orders.place(request)
    assert placed.created
    return placed.request


LOCAL_ACTIVITY_MARKER = "core_local_activity"


async def event_types(client, workflow_id: str) -> list[int | str]:
    """Event types, with markers named (a local activity and a patch are both markers)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.marker_recorded_event_attributes.marker_name
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        else event.event_type
        for event in history.events
    ]


@pytest.mark.parametrize("local", [True, None])
async def test_steps_run_local_only_when_asked(
    client, store, settings, order_id, product, local, orders
):
    sku = await product(stock=5, price="4.00")
    started = await place(orders, order_id, sku, local_activities=local)

    final = await orders.wait(order_id)

    assert final.state == OrderState.COMPLETED
    assert [step.status for step in final.steps] == DEFAULT_ORDER_STEPS_DONE
    assert await store.stock(sku) == 3
    assert await store.net_charged(started.workflow_id) == Decimal("8.00")
    attempts = await store.attempts(started.workflow_id)
    assert [(a.step, a.outcome) for a in attempts] == [
        ("reserve_inventory", "completed"),
        ("charge_payment", "completed"),
        ("notify_customer", "completed"),
    ]
    types = await event_types(client, started.workflow_id)
    scheduled = types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    markers = types.count(LOCAL_ACTIVITY_MARKER)
    assert (scheduled, markers) == ((0, 3) if local else (3, 0))


async def test_local_steps_retry_and_compensate(client, store, settings, order_id, product, orders):
    sku = await product(stock=5)
    started = await place(
        orders,
        order_id,
        sku,
        local_activities=True,
        faults={"reserve_inventory": {"fail_first_n": 1}, "charge_payment": {"permanent": True}},
        retry={"initial_interval": 0.1, "backoff_coefficient": 1.0, "maximum_interval": 0.2},
    )

    final = await orders.wait(order_id)

    assert final.state == OrderState.FAILED
    assert final.error == "card declined by the issuer"
    assert final.step("reserve_inventory").status == StepStatus.COMPENSATED
    assert await store.stock(sku) == 5
    assert await store.net_charged(started.workflow_id) == Decimal("0")
    attempts = [(a.step, a.attempt, a.outcome) for a in await store.attempts(started.workflow_id)]
    assert attempts[:3] == [
        ("reserve_inventory", 1, "failed"),
        ("reserve_inventory", 2, "completed"),
        ("charge_payment", 1, "failed"),
    ]
