"""Typed FastAPI dependencies: the Temporal client, the store and the settings of this app.

Routes declare ``client: ClientDep`` instead of reaching into globals, so the same routes
serve ``orderflow up`` (client shared with the worker), ``orderflow api`` (client opened by
the app's lifespan) and the tests (session fixtures passed to ``create_app``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from temporalio.client import Client

from orderflow.config import Settings
from orderflow.models import ORDER_ID_PATTERN
from orderflow.store import Store

WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
"""Workflow ids this API will look up: order workflow ids and other plain ids, no paths."""


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ClientDep = Annotated[Client, Depends(get_client)]
StoreDep = Annotated[Store, Depends(get_store)]
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
