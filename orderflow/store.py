"""The order store: catalog and stock, reservations, payments, notifications, attempts.

SQLAlchemy 2 Core over aiosqlite (a file in the data dir) or asyncpg (PostgreSQL by URL).
The guarantees the workflow relies on live here, in the database, not in Python:

- **No oversell.** Stock moves only through ``UPDATE ... SET stock = stock - q WHERE
  stock >= q`` inside one transaction per order; a CHECK keeps it non-negative.
- **Nothing doubled.** Each side effect has a unique idempotency key bound to the order's
  execution (``order-42:<first run id>:charge``, :class:`OrderKeys`). Re-running an activity
  finds its own earlier row and returns it instead of acting again, even if the first run's
  worker died after committing; an order id reused after Temporal forgot the old run never
  finds the old run's rows.
- **Compensation wins races.** Release and refund leave a tombstone when there was nothing
  to undo, so a late (zombie) reserve or charge of a cancelled order is refused.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers
queue on the busy timeout instead of failing on a lock upgrade; WAL lets readers proceed.
On PostgreSQL writers really run in parallel (READ COMMITTED), so two more rules apply:
the steps and compensations of one order take a transaction-scoped advisory lock on the
workflow id (a zombie charge and its refund cannot interleave), and stock rows are always
locked in sku order (two orders for the same products cannot deadlock).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from orderflow.config import private_file
from orderflow.models import (
    AttemptOutcome,
    AttemptRecord,
    OrderItem,
    OrderLine,
    ParcelStatus,
    PaymentEntry,
    PaymentKind,
    Product,
    Repair,
    ReservationStatus,
)

metadata = sa.MetaData()

products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("price", sa.Numeric(12, 2), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.CheckConstraint("stock >= 0", name="stock_never_negative"),
    sa.CheckConstraint("price >= 0", name="price_never_negative"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("idempotency_key", sa.String(120), primary_key=True),
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ReservationStatus
    sa.Column("total", sa.Numeric(12, 2), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
)

reservation_lines = sa.Table(
    "reservation_lines",
    metadata,
    sa.Column(
        "reservation_key",
        sa.String(120),
        sa.ForeignKey("reservations.idempotency_key"),
        primary_key=True,
    ),
    sa.Column("sku", sa.String(32), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # PaymentKind
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("message", sa.String(500), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("idempotency_key", sa.String(160), primary_key=True),  # <scope>:ship
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ShipmentRecord
    sa.Column("tracking_number", sa.String(40)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
"""The warehouse's parcels: packed, then dispatched (the point of no return) or unpacked."""

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("idempotency_key", sa.String(160), primary_key=True),  # <scope>:repair
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("released", sa.Boolean, nullable=False),
    sa.Column("refunded", sa.Numeric(12, 2), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
"""What the reconciler gave back for an order whose run Temporal closed without letting
the workflow compensate (terminated, timed out, failed): one row per order execution."""

activity_attempts = sa.Table(
    "activity_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.String(100), nullable=False, index=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("outcome", sa.String(16), nullable=False),  # AttemptOutcome
    sa.Column("error_type", sa.String(80)),
    sa.Column("error_message", sa.String(500)),
    sa.Column("worker", sa.String(200)),
)

DEMO_CATALOG: tuple[tuple[str, str, str, int], ...] = (
    ("espresso-beans", "Espresso beans, 1 kg", "24.50", 100),
    ("ceramic-mug", "Ceramic mug", "12.00", 200),
    ("pour-over-kit", "Pour-over kit", "39.90", 50),
    ("burr-grinder", "Burr grinder", "129.00", 20),
    ("filter-papers", "Filter papers, 100 pack", "4.95", 500),
)


@dataclass(frozen=True)
class OrderKeys:
    """Which order a side effect belongs to, and the scope its idempotency keys live in.

    ``scope`` is the order execution (:func:`orderflow.models.key_scope`); orders recorded
    before execution-bound keys use the bare workflow id (``order-42:charge``).
    """

    workflow_id: str
    order_id: str
    scope: str | None = None

    def key(self, effect: str) -> str:
        return f"{self.scope or self.workflow_id}:{effect}"


class StoreError(Exception):
    """A business rule refused the operation (not a transient database problem)."""


class UnknownProductError(StoreError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"unknown product {sku!r}")
        self.sku = sku


class OutOfStockError(StoreError):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"out of stock: {sku} has {available} left, {requested} requested")
        self.sku, self.requested, self.available = sku, requested, available


class AlreadyCompensatedError(StoreError):
    """A reserve or charge arrived after the order was already released / refunded."""


class AlreadyDispatchedError(StoreError):
    """The parcel left with the carrier: it can no longer be unpacked."""


def _clip(message: str | None, limit: int = 500) -> str | None:
    return (message or "")[:limit] or None


def _fit(column: str, value: str | None) -> str | None:
    """``value`` clipped to the attempts table's ``column``: PostgreSQL refuses an over-long
    value where SQLite would keep it. Orders' ids always fit; other workflows' may not (a
    scheduled reconcile run's id carries the schedule's id and its time)."""
    length = getattr(activity_attempts.c[column].type, "length", None)
    return _clip(value, length) if value is not None and length is not None else value


def _attempt_row(record: AttemptRecord) -> dict[str, Any]:
    """An attempt as a row that fits its columns on every database."""
    row = record.model_dump()
    for column in ("workflow_id", "order_id", "step", "error_type", "error_message", "worker"):
        row[column] = _fit(column, row[column])
    return row


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Store:
    """One pooled engine per process; every method is a short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._insert = sqlite.insert if self._is_sqlite else postgresql.insert
        # SQLite admits one writer at a time; its busy handler makes the others sleep and
        # retry (1, 2, 5, ... 100 ms). Queueing this process's writers on a lock instead
        # hands the database over without those sleeps (measured in bench/levers.py).
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self._is_sqlite else None

    # --- lifecycle --------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, seed: bool = True) -> Store:
        """Create the engine, the schema (idempotent) and the demo catalog if empty."""
        store = cls(make_engine(url))
        await store.create_schema()
        if seed:
            await store.seed_catalog()
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_schema(self) -> None:
        # Several processes may start at once against one database: creating a table that
        # another process just created is harmless, so retry once after such a race.
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
                return
            except (IntegrityError, ProgrammingError, OperationalError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)

    async def seed_catalog(
        self, catalog: Sequence[tuple[str, str, str, int]] = DEMO_CATALOG
    ) -> None:
        """Insert the demo products unless they exist (never resets stock of a running shop)."""
        async with self._write() as conn:
            for sku, name, price, stock in catalog:
                await conn.execute(
                    self._insert(products)
                    .values(sku=sku, name=name, price=Decimal(price), stock=stock)
                    .on_conflict_do_nothing(index_elements=["sku"])
                )

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def _lock_order(self, conn: AsyncConnection, workflow_id: str) -> None:
        """Serialize the side effects of one order until the transaction ends.

        SQLite already runs one writer at a time (``BEGIN IMMEDIATE``). On PostgreSQL a
        transaction-scoped advisory lock keyed by the workflow id makes "look for my row,
        else write it" atomic across connections and machines, without locking any table.
        """
        if not self._is_sqlite:
            await conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(workflow_id, 0)))
            )

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(orderflow_readonly=True)
            yield conn

    # --- catalog ----------------------------------------------------------------------

    async def put_product(self, sku: str, name: str, price: Decimal | str, stock: int) -> None:
        """Create or overwrite a product (tests, notebooks and demos set stock with this)."""
        values = {"name": name, "price": Decimal(price), "stock": stock}
        async with self._write() as conn:
            await conn.execute(
                self._insert(products)
                .values(sku=sku, **values)
                .on_conflict_do_update(index_elements=["sku"], set_=values)
            )

    async def list_products(self) -> list[Product]:
        async with self._read() as conn:
            rows = await conn.execute(sa.select(products).order_by(products.c.sku))
            return [Product.model_validate(row._asdict()) for row in rows]

    async def get_product(self, sku: str) -> Product | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(products).where(products.c.sku == sku))).first()
            return Product.model_validate(row._asdict()) if row else None

    async def admission(self, skus: Sequence[str], workflow_id: str) -> tuple[list[str], bool]:
        """What placing an order checks first, in one read: the skus not in the catalog, and
        whether any reservation or payment was ever recorded for this workflow id."""

        def recorded(table: sa.Table) -> sa.Exists:
            return sa.exists().where(table.c.workflow_id == workflow_id)

        async with self._read() as conn:
            catalog = sa.select(products.c.sku).where(products.c.sku.in_(skus))
            known = set((await conn.execute(catalog)).scalars().all())
            records = sa.select(sa.or_(recorded(reservations), recorded(payments)))
            has_records = bool((await conn.execute(records)).scalar())
        return [sku for sku in skus if sku not in known], has_records

    async def stock(self, sku: str) -> int:
        product = await self.get_product(sku)
        if product is None:
            raise UnknownProductError(sku)
        return product.stock

    # --- inventory --------------------------------------------------------------------

    async def reserve(
        self, order: OrderKeys, items: Sequence[OrderItem]
    ) -> tuple[list[OrderLine], Decimal]:
        """Take stock for every item atomically, or none; idempotent per order execution."""
        key = order.key("reserve")
        workflow_id, order_id = order.workflow_id, order.order_id
        try:
            async with self._write() as conn:
                await self._lock_order(conn, workflow_id)
                existing = await self._reservation(conn, key)
                if existing is not None:
                    return existing
                # Rows are locked in sku order, so concurrent orders never deadlock.
                ordered = sorted(items, key=lambda item: item.sku)
                lines = [await self._take_stock(conn, item) for item in ordered]
                total = sum((line.line_total for line in lines), Decimal("0"))
                now = utcnow()
                await conn.execute(
                    reservations.insert().values(
                        idempotency_key=key,
                        workflow_id=workflow_id,
                        order_id=order_id,
                        status=ReservationStatus.RESERVED.value,
                        total=total,
                        created_at=now,
                    )
                )
                await conn.execute(
                    reservation_lines.insert(),
                    [
                        {
                            "reservation_key": key,
                            "sku": line.sku,
                            "name": line.name,
                            "quantity": line.quantity,
                            "unit_price": line.unit_price,
                        }
                        for line in lines
                    ],
                )
                return lines, total
        except IntegrityError:
            # A concurrent run of the same activity won the insert; ours rolled back whole.
            async with self._read() as conn:
                existing = await self._reservation(conn, key)
            if existing is None:
                raise
            return existing

    async def _reservation(
        self, conn: AsyncConnection, key: str
    ) -> tuple[list[OrderLine], Decimal] | None:
        header = (
            await conn.execute(sa.select(reservations).where(reservations.c.idempotency_key == key))
        ).first()
        if header is None:
            return None
        if header.status != ReservationStatus.RESERVED:
            raise AlreadyCompensatedError(f"reservation {key} was already released")
        rows = await conn.execute(
            sa.select(reservation_lines)
            .where(reservation_lines.c.reservation_key == key)
            .order_by(reservation_lines.c.sku)
        )
        lines = [
            OrderLine(
                sku=row.sku,
                name=row.name,
                quantity=row.quantity,
                unit_price=row.unit_price,
                line_total=row.unit_price * row.quantity,
            )
            for row in rows
        ]
        return lines, header.total

    async def _take_stock(self, conn: AsyncConnection, item: OrderItem) -> OrderLine:
        result = await conn.execute(
            products.update()
            .where(products.c.sku == item.sku, products.c.stock >= item.quantity)
            .values(stock=products.c.stock - item.quantity)
            .returning(products.c.name, products.c.price)
        )
        row = result.first()
        if row is None:
            current = (
                await conn.execute(sa.select(products.c.stock).where(products.c.sku == item.sku))
            ).scalar()
            if current is None:
                raise UnknownProductError(item.sku)
            raise OutOfStockError(item.sku, item.quantity, current)
        return OrderLine(
            sku=item.sku,
            name=row.name,
            quantity=item.quantity,
            unit_price=row.price,
            line_total=row.price * item.quantity,
        )

    async def release(self, order: OrderKeys) -> bool:
        """Put reserved stock back; True if stock moved. Leaves a tombstone if none was taken."""
        key = order.key("reserve")
        workflow_id, order_id = order.workflow_id, order.order_id
        async with self._write() as conn:
            await self._lock_order(conn, workflow_id)
            header = (
                await conn.execute(
                    sa.select(reservations.c.status).where(reservations.c.idempotency_key == key)
                )
            ).first()
            now = utcnow()
            if header is None:
                await conn.execute(
                    reservations.insert().values(
                        idempotency_key=key,
                        workflow_id=workflow_id,
                        order_id=order_id,
                        status=ReservationStatus.RELEASED.value,
                        total=Decimal("0"),
                        created_at=now,
                        released_at=now,
                    )
                )
                return False
            if header.status == ReservationStatus.RELEASED:
                return False
            # Rows are locked in sku order, as in reserve: two orders never deadlock.
            lines = await conn.execute(
                sa.select(reservation_lines.c.sku, reservation_lines.c.quantity)
                .where(reservation_lines.c.reservation_key == key)
                .order_by(reservation_lines.c.sku)
            )
            for sku, quantity in lines.all():
                await conn.execute(
                    products.update()
                    .where(products.c.sku == sku)
                    .values(stock=products.c.stock + quantity)
                )
            await conn.execute(
                reservations.update()
                .where(reservations.c.idempotency_key == key)
                .values(status=ReservationStatus.RELEASED.value, released_at=now)
            )
            return True

    # --- payments ---------------------------------------------------------------------

    async def charge(self, order: OrderKeys, customer_id: str, amount: Decimal) -> tuple[int, str]:
        """Charge once per order execution: returns (payment id, idempotency key)."""
        key = order.key("charge")
        workflow_id, order_id = order.workflow_id, order.order_id
        async with self._write() as conn:
            await self._lock_order(conn, workflow_id)
            rows = (
                await conn.execute(
                    sa.select(payments.c.id, payments.c.kind).where(
                        payments.c.idempotency_key.in_([key, order.key("refund")])
                    )
                )
            ).all()
            kinds = {row.kind: row.id for row in rows}
            if PaymentKind.CHARGE in kinds:
                return kinds[PaymentKind.CHARGE], key
            if kinds:
                raise AlreadyCompensatedError(f"payment of {workflow_id} was already voided")
            result = await conn.execute(
                payments.insert()
                .values(
                    idempotency_key=key,
                    workflow_id=workflow_id,
                    order_id=order_id,
                    customer_id=customer_id,
                    kind=PaymentKind.CHARGE.value,
                    amount=amount,
                    created_at=utcnow(),
                )
                .returning(payments.c.id)
            )
            return int(result.scalar_one()), key

    async def refund(self, order: OrderKeys) -> Decimal:
        """Refund the charge if there is one (idempotent); returns the amount refunded.

        Without a charge it records a zero ``void`` under the refund key, so a charge that
        arrives later (a zombie attempt) is refused instead of leaving money taken.
        """
        refund_key = order.key("refund")
        workflow_id, order_id = order.workflow_id, order.order_id
        async with self._write() as conn:
            await self._lock_order(conn, workflow_id)
            rows = (
                await conn.execute(
                    sa.select(payments).where(
                        payments.c.idempotency_key.in_([order.key("charge"), refund_key])
                    )
                )
            ).all()
            by_kind = {row.kind: row for row in rows}
            done = by_kind.get(PaymentKind.REFUND) or by_kind.get(PaymentKind.VOID)
            if done is not None:
                return Decimal(done.amount)
            charge = by_kind.get(PaymentKind.CHARGE)
            amount = Decimal(charge.amount) if charge else Decimal("0")
            await conn.execute(
                payments.insert().values(
                    idempotency_key=refund_key,
                    workflow_id=workflow_id,
                    order_id=order_id,
                    customer_id=charge.customer_id if charge else "",
                    kind=(PaymentKind.REFUND if charge else PaymentKind.VOID).value,
                    amount=amount,
                    created_at=utcnow(),
                )
            )
            return amount

    # --- shipments ------------------------------------------------------------------

    async def pack(self, order: OrderKeys) -> None:
        """Pack the order's parcel once; refused after it was unpacked (a cancelled order)."""
        key = order.key("ship")
        async with self._write() as conn:
            await self._lock_order(conn, order.workflow_id)
            status = await self._shipment_status(conn, key)
            if status == ParcelStatus.UNPACKED:
                raise AlreadyCompensatedError(f"shipment {key} was already unpacked")
            if status is None:
                now = utcnow()
                await conn.execute(
                    shipments.insert().values(
                        idempotency_key=key,
                        workflow_id=order.workflow_id,
                        order_id=order.order_id,
                        status=ParcelStatus.PACKED.value,
                        created_at=now,
                        updated_at=now,
                    )
                )

    async def unpack(self, order: OrderKeys) -> bool:
        """Compensation: put a packed parcel back (True if there was one). Leaves a tombstone
        so a late pack is refused; a dispatched parcel cannot be unpacked."""
        key = order.key("ship")
        async with self._write() as conn:
            await self._lock_order(conn, order.workflow_id)
            status = await self._shipment_status(conn, key)
            now = utcnow()
            if status == ParcelStatus.DISPATCHED:
                raise AlreadyDispatchedError(f"shipment {key} was already dispatched")
            if status is None:
                await conn.execute(
                    shipments.insert().values(
                        idempotency_key=key,
                        workflow_id=order.workflow_id,
                        order_id=order.order_id,
                        status=ParcelStatus.UNPACKED.value,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return False
            if status == ParcelStatus.UNPACKED:
                return False
            await conn.execute(
                shipments.update()
                .where(shipments.c.idempotency_key == key)
                .values(status=ParcelStatus.UNPACKED.value, updated_at=now)
            )
            return True

    async def dispatch(self, order: OrderKeys) -> str:
        """Hand the packed parcel to the carrier once; returns its tracking number."""
        key = order.key("ship")
        async with self._write() as conn:
            await self._lock_order(conn, order.workflow_id)
            row = (
                await conn.execute(sa.select(shipments).where(shipments.c.idempotency_key == key))
            ).first()
            if row is None or row.status == ParcelStatus.UNPACKED:
                raise AlreadyCompensatedError(f"shipment {key} is not packed")
            if row.status == ParcelStatus.DISPATCHED:
                return str(row.tracking_number)
            tracking = "TRK-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
            await conn.execute(
                shipments.update()
                .where(shipments.c.idempotency_key == key)
                .values(
                    status=ParcelStatus.DISPATCHED.value,
                    tracking_number=tracking,
                    updated_at=utcnow(),
                )
            )
            return tracking

    async def parcel(self, order: OrderKeys) -> ParcelStatus | None:
        async with self._read() as conn:
            status = await self._shipment_status(conn, order.key("ship"))
        return status

    async def _shipment_status(self, conn: AsyncConnection, key: str) -> ParcelStatus | None:
        value = (
            await conn.execute(
                sa.select(shipments.c.status).where(shipments.c.idempotency_key == key)
            )
        ).scalar()
        return ParcelStatus(value) if value else None

    # --- reconciliation ---------------------------------------------------------------

    async def execution_keys(
        self, workflow_id: str, order_id: str, scope: str, started_at: datetime
    ) -> OrderKeys | None:
        """The keys one order execution used for its side effects, if it made any.

        Its own scope when it has rows there; else, for an order recorded before
        execution-bound keys, the bare workflow id, but only rows written after this
        execution started (older ones belong to an earlier order with the same id).
        """
        scoped = OrderKeys(workflow_id, order_id, scope)
        bare = OrderKeys(workflow_id, order_id)
        async with self._read() as conn:
            for keys, since in ((scoped, None), (bare, started_at)):
                found = sa.union_all(
                    *(
                        sa.select(table.c.created_at).where(
                            table.c.idempotency_key.in_([keys.key(e) for e in effects])
                        )
                        for table, effects in (
                            (reservations, ["reserve"]),
                            (payments, ["charge", "refund"]),
                        )
                    )
                )
                created = (await conn.execute(found)).scalars().all()
                if any(since is None or _aware(when) >= since for when in created):
                    return keys
        return None

    async def holds(self, order: OrderKeys) -> bool:
        """Whether the execution still holds stock (reserved) or money (a charge, no refund)."""
        async with self._read() as conn:
            reserved = (
                await conn.execute(
                    sa.select(reservations.c.status).where(
                        reservations.c.idempotency_key == order.key("reserve")
                    )
                )
            ).scalar()
            kinds = set(
                (
                    await conn.execute(
                        sa.select(payments.c.kind).where(
                            payments.c.idempotency_key.in_(
                                [order.key("charge"), order.key("refund")]
                            )
                        )
                    )
                )
                .scalars()
                .all()
            )
        charged = PaymentKind.CHARGE in kinds and not kinds & {PaymentKind.REFUND, PaymentKind.VOID}
        if await self.parcel(order) == ParcelStatus.DISPATCHED:
            return False  # shipped: the stock went to the customer, the money stays
        return reserved == ReservationStatus.RESERVED or charged

    async def repair(self, order: OrderKeys, *, run_id: str, reason: str) -> Repair:
        """Give back what a closed execution still holds: release its stock, refund its
        charge, record the repair once. Idempotent, and safe against compensation that ran
        (or a late attempt that arrives) meanwhile: release and refund leave tombstones."""
        await self.unpack(order)
        released = await self.release(order)
        refunded = await self.refund(order)
        key = order.key("repair")
        async with self._write() as conn:
            inserted = await conn.execute(
                self._insert(repairs)
                .values(
                    idempotency_key=key,
                    workflow_id=order.workflow_id,
                    order_id=order.order_id,
                    run_id=run_id,
                    reason=reason[:200],
                    released=released,
                    refunded=refunded,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
        return Repair(
            workflow_id=order.workflow_id,
            order_id=order.order_id,
            run_id=run_id,
            reason=reason,
            released=released,
            refunded=refunded,
            new=bool(inserted.rowcount),
        )

    async def repairs_of(self, workflow_id: str) -> list[Repair]:
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(repairs)
                .where(repairs.c.workflow_id == workflow_id)
                .order_by(repairs.c.created_at)
            )
            return [
                Repair(
                    workflow_id=row.workflow_id,
                    order_id=row.order_id,
                    run_id=row.run_id,
                    reason=row.reason,
                    released=row.released,
                    refunded=row.refunded,
                    new=False,
                    repaired_at=_aware(row.created_at),
                )
                for row in rows
            ]

    async def repair_count(self) -> int:
        async with self._read() as conn:
            query = sa.select(sa.func.count()).select_from(repairs)
            return int((await conn.execute(query)).scalar_one())

    # --- order records ----------------------------------------------------------------

    async def payment_ledger(self, workflow_id: str) -> list[PaymentEntry]:
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(payments)
                .where(payments.c.workflow_id == workflow_id)
                .order_by(payments.c.id)
            )
            return [
                PaymentEntry(
                    kind=PaymentKind(row.kind),
                    amount=row.amount,
                    idempotency_key=row.idempotency_key,
                    created_at=_aware(row.created_at),
                )
                for row in rows
            ]

    async def net_charged(self, workflow_id: str) -> Decimal:
        """Charges minus refunds for one order: 0 for a cancelled or failed order."""
        total = Decimal("0")
        for entry in await self.payment_ledger(workflow_id):
            total += entry.amount if entry.kind == PaymentKind.CHARGE else -entry.amount
        return total

    # --- notifications ----------------------------------------------------------------

    async def notify(self, order: OrderKeys, customer_id: str, message: str) -> int:
        """Record the customer notification once per order execution; returns its id."""
        key = order.key("notify")
        workflow_id = order.workflow_id
        async with self._write() as conn:
            await conn.execute(
                self._insert(notifications)
                .values(
                    idempotency_key=key,
                    workflow_id=workflow_id,
                    customer_id=customer_id,
                    message=message[:500],
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            return int(
                (
                    await conn.execute(
                        sa.select(notifications.c.id).where(notifications.c.idempotency_key == key)
                    )
                ).scalar_one()
            )

    # --- attempts ---------------------------------------------------------------------

    async def start_attempt(self, record: AttemptRecord) -> int:
        """Insert an attempt as ``running``; a worker that dies leaves it so (a lost attempt)."""
        async with self._write() as conn:
            result = await conn.execute(
                activity_attempts.insert()
                .values(**_attempt_row(record))
                .returning(activity_attempts.c.id)
            )
            return int(result.scalar_one())

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
        """Insert finished attempts in one transaction (the tracker's group commit)."""
        if not records:
            return
        async with self._write() as conn:
            await conn.execute(
                activity_attempts.insert(), [_attempt_row(record) for record in records]
            )

    async def finish_attempt(
        self,
        attempt_id: int,
        *,
        outcome: AttemptOutcome,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                activity_attempts.update()
                .where(activity_attempts.c.id == attempt_id)
                .values(
                    finished_at=utcnow(),
                    outcome=outcome,
                    error_type=_fit("error_type", error_type),
                    error_message=_fit("error_message", error_message),
                )
            )

    async def attempts(self, workflow_id: str | None = None) -> list[AttemptRecord]:
        query = sa.select(activity_attempts).order_by(
            activity_attempts.c.started_at, activity_attempts.c.id
        )
        if workflow_id is not None:
            query = query.where(activity_attempts.c.workflow_id == workflow_id)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [
                AttemptRecord.model_validate(
                    {
                        **row._asdict(),
                        "started_at": _aware(row.started_at),
                        "finished_at": _aware(row.finished_at),
                    }
                )
                for row in rows
            ]


def make_engine(url: str) -> AsyncEngine:
    """A pooled engine; for SQLite, WAL + busy timeout + ``BEGIN IMMEDIATE`` for writes."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        private_file(Path(database))
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can choose BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        readonly = conn.get_execution_options().get("orderflow_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine
