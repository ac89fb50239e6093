"""Drill 5 over HTTP: hypothesis-generated bodies, raw bytes and paths against the real API.

The app is served by uvicorn on the loop thread of :class:`LoopEnv` (faults disabled, as
in production) and hit with a synchronous HTTP client from hypothesis examples. Every
request must get a 4xx JSON ``{"detail": ...}``; afterwards the store is unchanged and
Temporal saw no workflow on the task queue. The API's own tests cover curated cases; this
drill searches for the ones nobody thought of.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.drillkit import audit
from orderflow.api import create_app
from orderflow.devserver import DevServer
from tests.apiserver import serve
from tests.reliability.hostile import TEXT, LoopEnv, hostile_bodies, open_loop_env

JSON_TYPE = {"content-type": "application/json"}
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def env(dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopEnv]:
    yield from open_loop_env(dev_server, tmp_path_factory)


@pytest.fixture(scope="module")
def http(env: LoopEnv) -> Iterator[httpx.Client]:
    """The real app on a free port (served on the env's loop), and a client for it."""
    url: concurrent.futures.Future[str] = concurrent.futures.Future()

    async def make_event() -> asyncio.Event:
        return asyncio.Event()

    stop = env.run(make_event())

    async def serve_until_stopped() -> None:
        app = create_app(env.settings, orders=env.orders)
        async with serve(app) as base_url:
            url.set_result(base_url)
            await stop.wait()

    serving = asyncio.run_coroutine_threadsafe(serve_until_stopped(), env.loop)
    with httpx.Client(base_url=url.result(15), timeout=30) as session:
        yield session
    env.loop.call_soon_threadsafe(stop.set)
    serving.result(15)


def assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "detail" in response.json()


def test_generated_create_bodies_get_4xx_and_start_or_change_nothing(
    env: LoopEnv, http: httpx.Client
) -> None:
    before = env.run(audit.counts(env.store))

    @EXAMPLES
    @given(body=hostile_bodies(), path=st.sampled_from(["/api/orders", "/api/orders/create"]))
    def check(body: Any, path: str) -> None:
        # allow_nan: NaN/Infinity tokens are not JSON, which makes them good hostile input
        content = json.dumps(body, allow_nan=True)
        assert_refused(http.post(path, content=content, headers=JSON_TYPE))

    check()
    assert env.run(audit.counts(env.store)) == before
    env.assert_nothing_started()


def test_raw_bytes_and_wrong_content_types_get_4xx(env: LoopEnv, http: httpx.Client) -> None:
    before = env.run(audit.counts(env.store))

    @EXAMPLES
    @given(
        content=st.binary(max_size=2000),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", "image/png"]
        ),
    )
    def check(content: bytes, content_type: str) -> None:
        response = http.post("/api/orders", content=content, headers={"content-type": content_type})
        assert_refused(response)

    check()
    assert env.run(audit.counts(env.store)) == before


def test_generated_order_paths_get_4xx(env: LoopEnv, http: httpx.Client) -> None:
    before = env.run(audit.counts(env.store))

    @EXAMPLES
    @given(
        order_id=TEXT.filter(lambda s: s.strip("/.") != ""),
        route=st.sampled_from(["", "/timeline", "/payments", "/cancel"]),
    )
    def check(order_id: str, route: str) -> None:
        path = f"/api/orders/{quote(order_id, safe='')}{route}"
        if route == "/cancel":
            response = http.post(path, json={"reason": order_id[:100]})
        else:
            response = http.get(path)
        assert_refused(response)

    check()
    assert env.run(audit.counts(env.store)) == before


def test_no_cors_headers_by_default_even_for_a_hostile_origin(http: httpx.Client) -> None:
    origin = {"origin": "http://evil.example"}
    preflight = http.options(
        "/api/orders",
        headers={**origin, "access-control-request-method": "POST"},
    )
    plain = http.get("/api/products", headers=origin)

    for response in (preflight, plain):
        assert not any(h.startswith("access-control-") for h in response.headers), response.headers
