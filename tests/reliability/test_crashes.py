"""Drills 1 and 2: a worker process and the Temporal server die with orders in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bench.drillkit import harness
from bench.drillkit.scenarios import (
    Drill,
    dev_server_killed,
    replay_all,
    worker_killed_mid_payment,
)
from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.devserver import DevServer
from orderflow.models import OrderState
from tests.reliability.conftest import assert_held


async def test_worker_killed_mid_payment_charges_each_order_exactly_once(drill: Drill) -> None:
    report = await worker_killed_mid_payment(drill, orders_count=6, kills=1, latency=3.0)
    print(report.summary())

    assert_held(report)
    assert report.kills == 1
    # The kill really hit payments: every order lost one charge attempt with the worker.
    assert report.figures["lost_attempts"] == 6
    assert report.states == {OrderState.COMPLETED.value: 6}
    assert report.charges == 6 and report.refunds == 0
    await replay_all(drill.client, report)
    assert_held(report)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[DevServer]:
    """A file-backed dev server of this test alone (the drill kills and restarts it)."""
    with harness.own_server(tmp_path) as server:
        yield server


@pytest.fixture
async def own_drill(own_server: DevServer, tmp_path: Path) -> AsyncIterator[Drill]:
    client = await connect(Settings(temporal_address=own_server.address))
    async with harness.fresh_drill(own_server, client, tmp_path, "drill") as drill:
        yield drill


async def test_dev_server_killed_loses_no_order(own_server: DevServer, own_drill: Drill) -> None:
    report = await dev_server_killed(own_server, own_drill, orders_count=12, step_delay=0.3)
    print(report.summary())

    assert_held(report)
    assert report.figures["in_flight_at_kill"] > 0
    assert report.states == {OrderState.COMPLETED.value: 12}
    assert report.charges == 12
    await replay_all(own_drill.client, report)
    assert_held(report)
