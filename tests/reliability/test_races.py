"""Drills 3, 4 and 6: contention, cancel races and repeated creates, with worker processes."""

from __future__ import annotations

from orderflow.models import OrderState
from tests.reliability.conftest import assert_held
from tests.reliability.scenarios import (
    Drill,
    cancel_races,
    idempotent_create,
    no_oversell,
    replay_all,
)


async def test_two_hundred_orders_on_fifty_units_never_oversell(drill: Drill) -> None:
    report = await no_oversell(drill, orders_count=200, stock=50, workers=2)
    print(report.summary())

    assert_held(report)
    assert report.states == {OrderState.COMPLETED.value: 50, OrderState.FAILED.value: 150}
    assert report.oversold == 0
    assert report.figures["final_stock"] == 0
    assert report.charges == 50 and report.refunds == 0
    await replay_all(drill.client, report, sample=30)
    assert_held(report)


async def test_cancels_at_random_moments_agree_with_money_and_stock(drill: Drill) -> None:
    report = await cancel_races(drill, orders_count=30, seed=7)
    print(report.summary())

    assert_held(report)
    # The seeded moments must have hit both sides of the race, or the drill proved nothing.
    assert report.states[OrderState.CANCELLED.value] > 0
    assert report.states[OrderState.COMPLETED.value] > 0
    assert report.figures["rejected"] > 0
    await replay_all(drill.client, report)
    assert_held(report)


async def test_twenty_concurrent_identical_creates_start_one_workflow(drill: Drill) -> None:
    report = await idempotent_create(drill, repeats=20)
    print(report.summary())

    assert_held(report)
    assert report.figures["created"] == 1
    assert report.figures["runs"] == 1
    assert report.charges == 1
    await replay_all(drill.client, report)
    assert_held(report)
