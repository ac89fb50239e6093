"""The store's guarantees, tested directly on SQLite and on a real PostgreSQL server.

Every test runs twice (``db`` is parametrized): against a fresh SQLite file and against a
fresh database in a throwaway PostgreSQL cluster (tests/postgres.py). Concurrency is real:
many coroutines on one pooled engine, so on PostgreSQL they are separate connections and
transactions racing in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bench.drillkit import audit
from orderflow.models import AttemptOutcome, AttemptRecord, OrderItem
from orderflow.store import (
    DEMO_CATALOG,
    AlreadyCompensatedError,
    OrderKeys,
    OutOfStockError,
    Store,
    UnknownProductError,
    utcnow,
)
from tests.postgres import PostgresCluster

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return await cluster.create_database("store")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Store]:
    store = await Store.open(db_url)
    yield store
    await store.close()


def items(**quantities: int) -> list[OrderItem]:
    return [OrderItem(sku=sku, quantity=q) for sku, q in quantities.items()]


async def test_schema_and_seed_are_idempotent(db_url: str) -> None:
    first = await Store.open(db_url)
    await first.put_product("espresso-beans", "Espresso beans, 1 kg", "24.50", 7)
    await first.close()
    # A second process opening the same database: schema exists, catalog not re-seeded.
    second = await Store.open(db_url)
    try:
        catalog = await second.list_products()
        assert [p.sku for p in catalog] == sorted(sku for sku, *_ in DEMO_CATALOG)
        assert await second.stock("espresso-beans") == 7
        assert (await second.get_product("burr-grinder")).price == Decimal("129.00")  # type: ignore[union-attr]
    finally:
        await second.close()


async def test_concurrent_opens_create_one_schema(db_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(db_url) for _ in range(4)))
    try:
        assert len(await stores[0].list_products()) == len(DEMO_CATALOG)
    finally:
        for store in stores:
            await store.close()


async def test_reserve_takes_stock_and_prices_from_catalog(db: Store) -> None:
    await db.put_product("a", "A", "2.50", 5)
    await db.put_product("b", "B", "10.00", 3)
    lines, total = await db.reserve(OrderKeys("order-r1", "r1"), items(a=2, b=1))
    assert {(line.sku, line.quantity, line.unit_price) for line in lines} == {
        ("a", 2, Decimal("2.50")),
        ("b", 1, Decimal("10.00")),
    }
    assert total == Decimal("15.00")
    assert (await db.stock("a"), await db.stock("b")) == (3, 2)


async def test_reserve_is_all_or_nothing(db: Store) -> None:
    await db.put_product("a", "A", "1.00", 5)
    await db.put_product("b", "B", "1.00", 1)
    before = await audit.counts(db)
    with pytest.raises(OutOfStockError) as raised:
        await db.reserve(OrderKeys("order-r2", "r2"), items(a=2, b=2))
    assert (raised.value.sku, raised.value.requested, raised.value.available) == ("b", 2, 1)
    with pytest.raises(UnknownProductError):
        await db.reserve(OrderKeys("order-r3", "r3"), items(a=1, nope=1))
    assert (await db.stock("a"), await db.stock("b")) == (5, 1)
    assert await audit.counts(db) == before


async def test_no_oversell_under_concurrency(db: Store, orders) -> None:
    """40 orders race for 6 units of each of two products, items in both orders."""
    await db.put_product("a", "A", "1.00", 6)
    await db.put_product("b", "B", "1.00", 6)

    async def order(n: int) -> bool:
        lines = items(a=1, b=1) if n % 2 else items(b=1, a=1)  # opposite lock order
        try:
            await db.reserve(OrderKeys(f"order-c{n}", f"c{n}"), lines)
        except OutOfStockError:
            return False
        return True

    results = await asyncio.gather(*(order(n) for n in range(40)))
    assert sum(results) == 6
    assert (await db.stock("a"), await db.stock("b")) == (0, 0)
    assert (await audit.counts(db)).reservations == 6


async def test_reserve_is_idempotent_even_when_racing_itself(db: Store) -> None:
    await db.put_product("a", "A", "3.00", 10)
    first = await db.reserve(OrderKeys("order-i1", "i1"), items(a=4))
    assert await db.reserve(OrderKeys("order-i1", "i1"), items(a=4)) == first
    results = await asyncio.gather(
        *(db.reserve(OrderKeys("order-i2", "i2"), items(a=1)) for _ in range(8))
    )
    assert all(result == results[0] for result in results)
    assert await db.stock("a") == 10 - 4 - 1
    assert (await audit.counts(db)).reservations == 2


async def test_charge_and_notify_are_idempotent_even_when_racing(db: Store) -> None:
    charges = await asyncio.gather(
        *(db.charge(OrderKeys("order-p1", "p1"), "alice", Decimal("12.34")) for _ in range(8))
    )
    assert len(set(charges)) == 1 and charges[0][1] == "order-p1:charge"
    notes = await asyncio.gather(
        *(db.notify(OrderKeys("order-p1", "n"), "alice", "hello") for _ in range(8))
    )
    assert len(set(notes)) == 1
    assert await audit.payment_kinds(db, ["order-p1"]) == {"order-p1": ["charge"]}
    counts = await audit.counts(db)
    assert (counts.payments, counts.notifications) == (1, 1)


async def test_release_and_refund_are_idempotent(db: Store) -> None:
    await db.put_product("a", "A", "5.00", 10)
    _, total = await db.reserve(OrderKeys("order-u1", "u1"), items(a=3))
    await db.charge(OrderKeys("order-u1", "u1"), "bob", total)
    assert await db.release(OrderKeys("order-u1", "u1")) is True
    assert await db.release(OrderKeys("order-u1", "u1")) is False
    assert await db.stock("a") == 10
    refunds = await asyncio.gather(*(db.refund(OrderKeys("order-u1", "u1")) for _ in range(5)))
    assert refunds == [Decimal("15.00")] * 5
    ledger = await db.payment_ledger("order-u1")
    assert [(e.kind, e.amount) for e in ledger] == [
        ("charge", Decimal("15.00")),
        ("refund", Decimal("15.00")),
    ]
    assert all(e.created_at.tzinfo is not None for e in ledger)
    assert await db.net_charged("order-u1") == 0
    # A retried reserve or charge of a compensated order is refused, not redone.
    with pytest.raises(AlreadyCompensatedError):
        await db.reserve(OrderKeys("order-u1", "u1"), items(a=3))
    assert await db.stock("a") == 10


async def test_tombstones_refuse_late_reserve_and_charge(db: Store) -> None:
    """Compensation ran before the (zombie) step: the step must not act afterwards."""
    await db.put_product("a", "A", "5.00", 10)
    assert await db.release(OrderKeys("order-z1", "z1")) is False
    assert await db.refund(OrderKeys("order-z1", "z1")) == Decimal("0")
    with pytest.raises(AlreadyCompensatedError):
        await db.reserve(OrderKeys("order-z1", "z1"), items(a=2))
    with pytest.raises(AlreadyCompensatedError):
        await db.charge(OrderKeys("order-z1", "z1"), "carol", Decimal("10.00"))
    assert await db.stock("a") == 10
    assert await audit.payment_kinds(db, ["order-z1"]) == {"order-z1": ["void"]}
    assert await db.net_charged("order-z1") == 0


async def test_charge_racing_refund_never_keeps_money(db: Store) -> None:
    """A zombie charge concurrent with the refund: either refunded or refused, never kept."""
    workflows = [f"order-race{n}" for n in range(20)]

    async def race(workflow_id: str) -> None:
        charge = db.charge(OrderKeys(workflow_id, workflow_id), "dave", Decimal("9.99"))
        refund = db.refund(OrderKeys(workflow_id, workflow_id))
        pair = (
            (refund, charge)
            if workflow_id.endswith(("1", "3", "5", "7", "9"))
            else (charge, refund)
        )
        outcomes = await asyncio.gather(*pair, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, AlreadyCompensatedError
            ):
                raise outcome

    await asyncio.gather(*(race(w) for w in workflows))
    for workflow_id in workflows:
        assert await db.net_charged(workflow_id) == 0, await db.payment_ledger(workflow_id)
    kinds = await audit.payment_kinds(db, workflows)
    assert all(sorted(k) in (["charge", "refund"], ["void"]) for k in kinds.values()), kinds


async def test_ledger_and_net_charged(db: Store) -> None:
    assert await db.net_charged("order-l1") == 0
    await db.charge(OrderKeys("order-l1", "l1"), "erin", Decimal("42.10"))
    await db.charge(OrderKeys("order-l2", "l2"), "erin", Decimal("1.00"))
    assert await db.net_charged("order-l1") == Decimal("42.10")
    assert [e.idempotency_key for e in await db.payment_ledger("order-l1")] == ["order-l1:charge"]
    assert await audit.payment_kinds(db, ["order-l1", "order-none"]) == {
        "order-l1": ["charge"],
        "order-none": [],
    }


async def test_attempts_start_and_finish(db: Store) -> None:
    def record(step: str, attempt: int) -> AttemptRecord:
        return AttemptRecord(
            workflow_id="order-a1",
            order_id="a1",
            step=step,
            attempt=attempt,
            started_at=utcnow(),
            outcome="running",
            worker="1234@host-a",
        )

    first = await db.start_attempt(record("charge_payment", 1))
    second = await db.start_attempt(record("charge_payment", 2))
    await db.finish_attempt(
        first, outcome="failed", error_type="X" * 200, error_message="boom " * 200
    )
    await db.finish_attempt(second, outcome="completed")
    await db.start_attempt(record("notify_customer", 1).model_copy(update={"workflow_id": "o-2"}))
    attempts = await db.attempts("order-a1")
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "failed"), (2, "completed")]
    assert attempts[0].error_message is not None and len(attempts[0].error_message) == 500
    assert attempts[0].error_type is not None and attempts[0].error_type.startswith("X")
    assert attempts[1].error_type is None and attempts[1].worker == "1234@host-a"
    assert all(a.finished_at and a.finished_at >= a.started_at for a in attempts)
    assert all(a.started_at.tzinfo is not None for a in attempts)
    assert len(await db.attempts()) == 3


async def test_attempts_of_long_workflow_ids_are_recorded_clipped(db: Store) -> None:
    """A scheduled reconcile run's id (schedule id + time) can exceed the columns; the
    row is still written on PostgreSQL too (which refuses over-long values), clipped."""
    long_id = "reconcile-" + "q" * 120 + "-2026-11-30T03:37:00Z"
    record = AttemptRecord(
        workflow_id=long_id,
        order_id=long_id,
        step="find_unsettled_orders",
        attempt=1,
        started_at=utcnow(),
        outcome="running",
        worker="w" * 300,
    )
    running = await db.start_attempt(record)
    await db.finish_attempt(running, outcome="completed")
    await db.record_attempts(
        [
            record.model_copy(
                update={"attempt": 2, "outcome": AttemptOutcome.COMPLETED, "finished_at": utcnow()}
            )
        ]
    )
    rows = [row for row in await db.attempts() if row.step == "find_unsettled_orders"]
    assert [(row.attempt, row.outcome) for row in rows] == [(1, "completed"), (2, "completed")]
    assert all(len(row.workflow_id) == 100 and long_id.startswith(row.workflow_id) for row in rows)
    assert all(len(row.order_id) == 64 and row.worker == "w" * 200 for row in rows)


async def test_counts_track_every_table(db: Store) -> None:
    empty = await audit.counts(db)
    assert (empty.reservations, empty.payments, empty.notifications) == (0, 0, 0)
    assert empty.total_stock == sum(stock for *_, stock in DEMO_CATALOG)
    await db.reserve(OrderKeys("order-n1", "n1"), items(**{"ceramic-mug": 2}))
    await db.charge(OrderKeys("order-n1", "n1"), "frank", Decimal("24.00"))
    await db.notify(OrderKeys("order-n1", "n"), "frank", "hi")
    after = await audit.counts(db)
    assert (after.reservations, after.payments, after.notifications) == (1, 1, 1)
    assert after.total_stock == empty.total_stock - 2


async def test_keys_are_bound_to_the_execution(db: Store) -> None:
    """Two executions of one order id (a reuse after Temporal forgot the first) never
    share a side effect: the second reserves and charges for itself."""
    await db.put_product("a", "A", "4.95", 10)
    first = OrderKeys("order-x1", "x1", "order-x1:run-a")
    second = OrderKeys("order-x1", "x1", "order-x1:run-b")
    await db.reserve(first, items(a=1))
    await db.charge(first, "gina", Decimal("4.95"))
    _, total = await db.reserve(second, items(a=2))
    await db.charge(second, "gina", total)
    ledger = await db.payment_ledger("order-x1")
    assert [(e.kind, e.idempotency_key) for e in ledger] == [
        ("charge", "order-x1:run-a:charge"),
        ("charge", "order-x1:run-b:charge"),
    ]
    assert await db.stock("a") == 7


async def test_repair_gives_back_once_and_tells_what_it_did(db: Store) -> None:
    await db.put_product("a", "A", "2.00", 10)
    keys = OrderKeys("order-y1", "y1", "order-y1:run-a")
    _, total = await db.reserve(keys, items(a=3))
    await db.charge(keys, "hugo", total)
    assert await db.holds(keys)
    first = await db.repair(keys, run_id="run-a", reason="closed as TERMINATED")
    again = await db.repair(keys, run_id="run-a", reason="closed as TERMINATED")
    assert (first.new, first.released, first.refunded) == (True, True, total)
    assert (again.new, again.released) == (False, False)
    assert not await db.holds(keys)
    assert await db.stock("a") == 10
    assert await db.net_charged("order-y1") == Decimal("0")
    assert [r.reason for r in await db.repairs_of("order-y1")] == ["closed as TERMINATED"]
    with pytest.raises(AlreadyCompensatedError):  # a late charge attempt after the repair
        await db.reserve(keys, items(a=3))


async def test_execution_keys_find_old_bare_keys_only_after_the_run_started(db: Store) -> None:
    await db.put_product("a", "A", "1.00", 10)
    before = utcnow()
    old = OrderKeys("order-z9", "z9")  # recorded before execution-bound keys
    await db.reserve(old, items(a=1))
    scoped = await db.execution_keys("order-z9", "z9", "order-z9:run-new", before)
    assert scoped == old
    later = await db.execution_keys("order-z9", "z9", "order-z9:run-new", utcnow())
    assert later is None, "rows from before this run belong to an earlier order"
    assert await db.execution_keys("order-none", "none", "order-none:r", before) is None
