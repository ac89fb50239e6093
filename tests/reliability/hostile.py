"""Shared by the hostile-input drills: a client and store on a loop thread, and strategies.

Hypothesis drives synchronous test functions, so the Temporal client, the store (and the
API server) live on an event loop in a background thread; each example submits its
coroutine there with :meth:`LoopEnv.run`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.devserver import DevServer
from orderflow.models import OrderRequest
from orderflow.orders import Orders
from orderflow.store import DEMO_CATALOG, Store
from tests.conftest import eventually, unique

T = TypeVar("T")
CATALOG_SKUS = [sku for sku, *_ in DEMO_CATALOG]


@dataclass
class LoopEnv:
    """A client and store on a private loop thread, for synchronous hypothesis tests."""

    loop: asyncio.AbstractEventLoop
    client: Client
    store: Store
    settings: Settings

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    @property
    def orders(self) -> Orders:
        return Orders.from_settings(self.client, self.store, self.settings)

    def assert_nothing_started(self) -> None:
        """Visibility is eventually consistent: start a canary, wait until it is listed,
        then it must be the only workflow the task queue ever saw."""

        async def check() -> None:
            canary = OrderRequest(
                order_id=unique("canary"),
                customer_id="canary",
                items=[{"sku": CATALOG_SKUS[0], "quantity": 1}],  # type: ignore[list-item]
            )
            await self.orders.place(canary)
            query = f"TaskQueue = '{self.task_queue}'"
            listed = await eventually(
                lambda: self.client.count_workflows(query), lambda c: c.count >= 1
            )
            await self.client.get_workflow_handle(canary.workflow_id).terminate(reason="canary")
            assert listed.count == 1, f"{listed.count - 1} workflow(s) started by hostile input"

        self.run(check())


def open_loop_env(
    dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopEnv]:
    """A loop thread with a client and a private store; faults disabled (as in production)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    drill_settings = Settings(
        temporal_address=dev_server.address,
        data_dir=tmp_path_factory.mktemp("hostile"),
        task_queue=unique("hostile"),
        allow_faults=False,
    )

    async def open_env() -> LoopEnv:
        client = await connect(drill_settings)
        store = await Store.open(drill_settings.store_url)
        return LoopEnv(loop, client, store, drill_settings)

    opened = asyncio.run_coroutine_threadsafe(open_env(), loop).result(30)
    yield opened
    opened.run(opened.store.close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


# --- strategies ------------------------------------------------------------------------------

NASTY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "../../etc/passwd",
        "'; DROP TABLE products; --",
        '" OR 1=1 --',
        "<script>alert(1)</script>",
        "{{7*7}}",
        "${jndi:ldap://x}",
        "\x00",
        "line\nbreak",
        "é" * 65,
        "a" * 10_000,
        "🦆",
        "order-1/../../x",
        "%2e%2e%2f",
    ]
)
TEXT = st.one_of(NASTY_STRINGS, st.text(max_size=80))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# A sku that is never in the catalog: a body that passes validation must still be refused.
GHOST_SKU = TEXT.filter(lambda s: s not in CATALOG_SKUS)
ITEM = st.fixed_dictionaries(
    {"sku": GHOST_SKU, "quantity": st.one_of(st.integers(), st.floats(), TEXT, st.none())}
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "order_id": st.one_of(TEXT, st.integers(), JSON),
    "customer_id": st.one_of(TEXT, st.integers(), JSON),
    "customer_name": st.one_of(TEXT, st.text(min_size=201, max_size=300), JSON),
    "items": st.one_of(st.lists(ITEM, max_size=60), st.lists(JSON, max_size=3), JSON),
    "step_delay": st.one_of(st.floats(allow_nan=True, allow_infinity=True), TEXT, JSON),
    "faults": st.one_of(
        st.dictionaries(st.sampled_from(["charge_payment", "nope", "reserve_inventory"]), JSON),
        st.just({"charge_payment": {"latency": 0.1}}),
        JSON,
    ),
    "retry": JSON,
    "price": st.one_of(st.floats(), TEXT),  # prices come from the catalog, never the client
    "unexpected": JSON,
}


WELL_FORMED_GHOST_SKU = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True).filter(
    lambda s: s not in CATALOG_SKUS
)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> Any:
    """Arbitrary JSON; a plausible body with some fields replaced by hostile values; or a
    well-formed body naming products that do not exist (it passes validation and must be
    refused by ``start_order``)."""
    kind = draw(st.sampled_from(["json", "mutated", "ghost"]))
    if kind == "json":
        return draw(JSON)
    if kind == "ghost":
        skus = draw(st.lists(WELL_FORMED_GHOST_SKU, min_size=1, max_size=5, unique=True))
        return {
            "customer_id": "cust-1",
            "customer_name": draw(TEXT.filter(lambda s: len(s) <= 200)),
            "items": [{"sku": sku, "quantity": draw(st.integers(1, 1000))} for sku in skus],
            "step_delay": draw(st.floats(0, 60)),
        }
    body: dict[str, Any] = {
        "customer_id": "cust-1",
        "items": [{"sku": draw(GHOST_SKU), "quantity": 1}],
    }
    for name in draw(st.sets(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=4)):
        body[name] = draw(FIELDS[name])
    return body


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
