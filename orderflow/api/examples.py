"""Request examples shown in ``/docs`` and published in the OpenAPI schema.

Each one works as it stands against a server seeded with the demo catalog
(:data:`orderflow.store.DEMO_CATALOG`; ``GET /api/products`` lists what a server sells), and
none carries an ``order_id``, so "Try it out" places a new order every time. The tests post
every example to the real API and expect it to be accepted.
"""

from __future__ import annotations

from typing import Any

CREATE_ORDER: dict[str, dict[str, Any]] = {
    "simple": {
        "summary": "Two bags of espresso beans",
        "value": {
            "customer_id": "cust-1",
            "customer_name": "Ada",
            "items": [{"sku": "espresso-beans", "quantity": 2}],
        },
    },
    "retries": {
        "summary": "Watch the retries: the payment fails twice, then succeeds",
        "value": {
            "customer_id": "cust-2",
            "items": [
                {"sku": "pour-over-kit", "quantity": 1},
                {"sku": "filter-papers", "quantity": 2},
            ],
            "faults": {"charge_payment": {"fail_first_n": 2}},
        },
    },
    "review": {
        "summary": "Large enough to wait for a review (total at or above 500.00)",
        "value": {
            "customer_id": "cust-4",
            "items": [{"sku": "burr-grinder", "quantity": 4}],
            "review_timeout": 600,
        },
    },
    "slow": {
        "summary": "Slow enough to cancel: 3 s per step",
        "value": {
            "customer_id": "cust-3",
            "items": [{"sku": "ceramic-mug", "quantity": 1}],
            "step_delay": 3,
        },
    },
}

CANCEL_ORDER: dict[str, dict[str, Any]] = {
    "reason": {"summary": "With a reason", "value": {"reason": "changed my mind"}},
}

REVIEW_ORDER: dict[str, dict[str, Any]] = {
    "approve": {
        "summary": "Approve",
        "value": {"decision": "approve", "reviewer": "alice", "note": "known customer"},
    },
    "reject": {"summary": "Reject", "value": {"decision": "reject", "reviewer": "bob"}},
}
