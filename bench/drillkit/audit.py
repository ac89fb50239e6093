"""Read-only audits of the store for drills and tests: row counts, payment kinds per order.

Not part of the product's store API: they read its tables directly, to prove from the
outside that bad input changed nothing and that each order was charged at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from orderflow.store import Store, notifications, payments, products, reservations, shipments


@dataclass(frozen=True)
class StoreCounts:
    """Row counts used by tests and drills to prove that bad input changed nothing."""

    reservations: int
    payments: int
    notifications: int
    total_stock: int


async def counts(store: Store) -> StoreCounts:
    async with store.engine.connect() as conn:

        async def count(table: sa.Table) -> int:
            query = sa.select(sa.func.count()).select_from(table)
            return int((await conn.execute(query)).scalar_one())

        stock = (
            await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(products.c.stock), 0)))
        ).scalar_one()
        return StoreCounts(
            reservations=await count(reservations),
            payments=await count(payments),
            notifications=await count(notifications),
            total_stock=int(stock),
        )


async def payment_kinds(store: Store, workflow_ids: Sequence[str]) -> dict[str, list[str]]:
    """Payment kinds per workflow (for drills checking "one charge per order")."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(payments.c.workflow_id, payments.c.kind).where(
                payments.c.workflow_id.in_(list(workflow_ids))
            )
        )
        result: dict[str, list[str]] = {workflow_id: [] for workflow_id in workflow_ids}
        for workflow_id, kind in rows:
            result[workflow_id].append(kind)
        return result


async def dispatched(store: Store, workflow_ids: Sequence[str]) -> set[str]:
    """The orders whose parcel left with the carrier (their payment stands, whatever else)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(shipments.c.workflow_id).where(
                shipments.c.workflow_id.in_(list(workflow_ids)),
                shipments.c.status == "dispatched",
            )
        )
        return {workflow_id for (workflow_id,) in rows}
