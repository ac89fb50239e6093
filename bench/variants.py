"""The "before" side of each lever, kept here so before and after run in the same process.

These are not alternatives to ship: they are what the package did before a lever was
pulled (or a setting left at its default), so ``bench/levers.py`` can measure both sides
interleaved on the same server at the same moment.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from orderflow.models import AttemptRecord, order_id_from_workflow_id
from orderflow.store import Store, utcnow


class TwoWriteAttemptTracking(Interceptor):
    """Attempt tracking as first written: insert a ``running`` row concurrently with the
    activity, update it when the attempt ends (two write transactions per attempt)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TwoWriteRecorder(next, self.store)


class _TwoWriteRecorder(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, store: Store) -> None:
        super().__init__(next)
        self.store = store

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        record = AttemptRecord(
            workflow_id=info.workflow_id or "",
            order_id=order_id_from_workflow_id(info.workflow_id or ""),
            step=info.activity_type,
            attempt=info.attempt,
            started_at=utcnow(),
            outcome="running",
        )
        started = asyncio.create_task(self.store.start_attempt(record))
        outcome = "failed"
        try:
            result = await self.next.execute_activity(input)
            outcome = "completed"
            return result
        finally:
            attempt_id = await asyncio.shield(started)
            await self.store.finish_attempt(attempt_id, outcome=outcome)


def unlocked(store: Store) -> Store:
    """The same store without the in-process write lock (SQLite's busy handler only)."""
    other = Store(store.engine)
    other._write_lock = None
    return other


async def default_pragmas_store(url: str) -> Store:
    """A store on a SQLite file left in SQLite's default journal (rollback journal,
    synchronous=FULL); otherwise set up like ``make_engine`` (busy timeout, BEGIN IMMEDIATE)."""
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("busy_timeout=30000", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        readonly = conn.get_execution_options().get("orderflow_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    store = Store(engine)
    await store.create_schema()
    await store.seed_catalog()
    return store
