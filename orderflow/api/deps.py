"""Typed FastAPI dependencies: the ``Orders`` door and the settings of this app.

Routes declare ``orders: OrdersDep`` instead of reaching into globals, so the same routes
serve ``orderflow up`` (the door shared with the worker), ``orderflow api`` (a door opened
by the app's lifespan) and the tests (the session's door passed to ``create_app``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from orderflow.config import Settings
from orderflow.models import ORDER_ID_PATTERN
from orderflow.orders import Orders

WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
"""Workflow ids this API will look up: order workflow ids and other plain ids, no paths."""


def get_orders(request: Request) -> Orders:
    orders: Orders = request.app.state.orders
    return orders


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


OrdersDep = Annotated[Orders, Depends(get_orders)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

OrderIdPath = Annotated[
    str,
    Path(
        alias="orderId",
        pattern=ORDER_ID_PATTERN,
        description="Order id: letters, digits, `_` and `-`, 1 to 64 characters.",
    ),
]
WorkflowIdPath = Annotated[
    str,
    Path(alias="workflowId", pattern=WORKFLOW_ID_PATTERN, description="Temporal workflow id."),
]
