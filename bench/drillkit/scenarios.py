"""The drills: crashes, races and repeats with their invariants, runnable at any scale.

Each drill drives real orders through a real dev server, real ``orderflow worker``
processes and the real store, then checks the guarantees from the outside (payments
table, stock, final states, Temporal's own records) and returns a :class:`DrillReport`:
the figures of the run and a list of violations (empty means every guarantee held).
The tests next to this module run the drills small and fast; ``bench/drills.py`` runs
them at soak scale and writes ``docs/reliability.md`` from the reports.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from bench.drillkit import audit
from bench.drillkit.polling import eventually
from bench.drillkit.procs import WorkerPool
from orderflow import errors
from orderflow.devserver import DevServer
from orderflow.models import (
    AttemptOutcome,
    OrderRequest,
    OrderState,
    OrderStatus,
    StepName,
    order_workflow_id,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.workflows import OrderWorkflow

FAST_RETRY = {"initial_interval": 0.2, "backoff_coefficient": 1.0, "maximum_interval": 0.5}
"""Short backoff so a retried attempt follows its failure quickly (drills are timed)."""

# Ledgers (sorted payment kinds) that leave an unfinished order with no money taken.
SETTLED_WITHOUT_MONEY = ([], ["void"], ["charge", "refund"])


@dataclass
class Drill:
    """What a drill acts on: a client of the server, the store and a pool of workers."""

    client: Client
    store: Store
    workers: WorkerPool

    @property
    def task_queue(self) -> str:
        return self.workers.task_queue

    @property
    def orders(self) -> Orders:
        """The door to this drill's orders (its task queue, its store)."""
        return Orders(self.client, self.store, task_queue=self.task_queue)


@dataclass
class DrillReport:
    """Figures of one drill run and the guarantees it saw broken (``violations``)."""

    name: str
    orders: int = 0
    states: Counter[str] = field(default_factory=Counter)
    charges: int = 0
    refunds: int = 0
    voids: int = 0
    kills: int = 0
    oversold: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items()))
        return (
            f"{self.name}: {self.orders} orders ({states}); charges {self.charges}, "
            f"refunds {self.refunds}, voids {self.voids}, kills {self.kills}, "
            f"oversold {self.oversold}, violations {len(self.violations)}, "
            f"{self.seconds:.1f} s; {self.figures}"
        )

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.violations.append(message)


# --- shared steps ---------------------------------------------------------------------------


def order_request(order_id: str, sku: str, quantity: int = 1, **extra: Any) -> OrderRequest:
    return OrderRequest.model_validate(
        {
            "order_id": order_id,
            "customer_id": "drill",
            "items": [{"sku": sku, "quantity": quantity}],
            **extra,
        }
    )


async def place(drill: Drill, request: OrderRequest) -> bool:
    """Start one order; True if this call created it."""
    return (await drill.orders.place(request)).created


async def final_statuses(
    orders: Orders, order_ids: Iterable[str], timeout: float = 60.0
) -> dict[str, OrderStatus]:
    """Each order's final status (its workflow result), within one overall deadline."""
    finals, pending = await _wait_final(orders, list(order_ids), timeout)
    if pending:
        raise TimeoutError(f"{len(pending)} orders not final after {timeout:g} s")
    return finals


async def settle(
    orders: Orders, report: DrillReport, order_ids: list[str], timeout: float
) -> dict[str, OrderStatus]:
    """Like :func:`final_statuses`, but orders still running at the deadline become a
    violation and a figure, and the drill goes on auditing the ones that finished."""
    finals, pending = await _wait_final(orders, order_ids, timeout)
    if pending:
        report.figures["not_final"] = len(pending)
        report.violations.append(
            f"{len(pending)} of {len(order_ids)} orders not final after {timeout:g} s"
        )
    return finals


async def _wait_final(
    orders: Orders, ids: list[str], timeout: float
) -> tuple[dict[str, OrderStatus], list[str]]:
    waits = {i: asyncio.ensure_future(orders.wait(i)) for i in ids}
    await asyncio.wait(waits.values(), timeout=timeout)
    pending = [i for i, wait in waits.items() if not wait.done()]
    for order_id in pending:
        waits[order_id].cancel()
    await asyncio.gather(*waits.values(), return_exceptions=True)
    finals = {i: wait.result() for i, wait in waits.items() if i not in pending}
    return finals, pending


async def audit_money(
    store: Store, report: DrillReport, finals: dict[str, OrderStatus]
) -> dict[str, list[str]]:
    """Completed orders were charged exactly once; every other order has no money taken,
    unless its parcel was dispatched (a run terminated after the point of no return: the
    customer has the goods, the single charge stands)."""
    workflow_ids = [status.workflow_id for status in finals.values()]
    ledgers = await audit.payment_kinds(store, workflow_ids)
    shipped = await audit.dispatched(store, workflow_ids)
    for order_id, status in finals.items():
        kinds = sorted(ledgers[status.workflow_id])
        report.states[status.state.value] += 1
        if status.error:
            report.errors[re.sub(r"\d+", "N", status.error)] += 1
        report.charges += kinds.count("charge")
        report.refunds += kinds.count("refund")
        report.voids += kinds.count("void")
        if status.state == OrderState.COMPLETED or status.workflow_id in shipped:
            report.check(kinds == ["charge"], f"{order_id} {status.state} with payments {kinds}")
        else:
            report.check(
                kinds in SETTLED_WITHOUT_MONEY, f"{order_id} {status.state} with payments {kinds}"
            )
            net = await store.net_charged(status.workflow_id)
            report.check(net == 0, f"{order_id} {status.state} has net charge {net}")
    return ledgers


async def running_attempts(store: Store, step: StepName, worker_identity: str) -> set[str]:
    """Orders whose ``step`` is executing on that worker now (the tracking rows say so)."""
    return {
        attempt.workflow_id
        for attempt in await store.attempts()
        if attempt.step == step.value
        and attempt.outcome == AttemptOutcome.RUNNING
        and attempt.worker == worker_identity
    }


async def histories(client: Client, workflow_ids: Iterable[str]) -> AsyncIterator[WorkflowHistory]:
    for workflow_id in workflow_ids:
        yield await client.get_workflow_handle(workflow_id).fetch_history()


async def replay_all(client: Client, report: DrillReport, sample: int | None = None) -> None:
    """Non-determinism guard: the drill's histories must replay on the current code."""
    ids = report.workflow_ids
    if sample is not None and len(ids) > sample:
        ids = random.Random(report.name).sample(ids, sample)
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    results = await replayer.replay_workflows(histories(client, ids), raise_on_replay_failure=False)
    report.figures["replayed"] = len(ids)
    for run_id, failure in results.replay_failures.items():
        report.violations.append(f"history of run {run_id} does not replay: {failure}")


# --- 1. worker killed mid-payment -----------------------------------------------------------


async def worker_killed_mid_payment(
    drill: Drill, *, orders_count: int = 8, kills: int = 1, latency: float = 3.0, prefix: str = "wk"
) -> DrillReport:
    """Slow charges; ``kill -9`` the worker while every order is inside charge_payment,
    start a new one; repeat ``kills`` times. Every order must complete, charged once."""
    report = DrillReport("worker killed mid-payment", orders=orders_count)
    started = time.monotonic()
    sku = f"{prefix}-sku"[:32]
    await drill.store.put_product(sku, "Drill product", Decimal("5.00"), orders_count)
    worker = await drill.workers.spawn_ready(drill.client)
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    slow_charge = {"charge_payment": {"latency": latency}}
    await asyncio.gather(
        *(place(drill, order_request(i, sku, faults=slow_charge, retry=FAST_RETRY)) for i in ids)
    )
    report.workflow_ids = [order_workflow_id(i) for i in ids]
    for _ in range(kills):
        # "While payments run": this worker has a live charge attempt for every order.
        identity = worker.identity
        await eventually(
            lambda identity=identity: running_attempts(
                drill.store, StepName.CHARGE_PAYMENT, identity
            ),
            lambda running: len(running) == orders_count,
            timeout=30,
            what="every order charging on the worker",
        )
        worker.kill()
        report.kills += 1
        worker = await drill.workers.spawn_ready(drill.client)
    finals = await settle(drill.orders, report, ids, timeout=30 + 10 * kills)
    await audit_money(drill.store, report, finals)
    for order_id, status in finals.items():
        report.check(status.state == OrderState.COMPLETED, f"{order_id} ended {status.state}")
    attempts = [a for a in await drill.store.attempts() if a.step == StepName.CHARGE_PAYMENT]
    lost = [a for a in attempts if a.outcome == AttemptOutcome.RUNNING]
    report.figures["lost_attempts"] = len(lost)
    report.figures["charge_attempts"] = len(attempts)
    report.check(
        len(lost) == orders_count * kills,
        f"{len(lost)} charge attempts died with the workers, expected {orders_count * kills}",
    )
    stock = await drill.store.stock(sku)
    report.check(stock == 0, f"stock {stock} after {orders_count} completed orders of 1 unit")
    report.seconds = time.monotonic() - started
    return report


async def worker_killed_at_random(
    drill: Drill, *, orders_count: int = 40, kills: int = 4, seed: int = 3, prefix: str = "wr"
) -> DrillReport:
    """Soak variant of drill 1: ``kill -9`` the worker at seeded random moments while
    orders with staggered charge latencies run, so kills land in every step, including the
    gap between a charge being committed and its attempt being reported. Every order must
    still complete with exactly one charge."""
    report = DrillReport("worker killed at random moments", orders=orders_count)
    report.figures["seed"] = seed
    started = time.monotonic()
    rng = random.Random(seed)
    sku = f"{prefix}-sku"[:32]
    await drill.store.put_product(sku, "Drill product", Decimal("5.00"), orders_count)
    worker = await drill.workers.spawn_ready(drill.client)
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    latencies = [round(rng.uniform(0.2, 2.5), 2) for _ in ids]
    await asyncio.gather(
        *(
            place(
                drill,
                order_request(
                    order_id,
                    sku,
                    faults={"charge_payment": {"latency": latency}},
                    retry=FAST_RETRY,
                ),
            )
            for order_id, latency in zip(ids, latencies, strict=True)
        )
    )
    report.workflow_ids = [order_workflow_id(i) for i in ids]
    killed: list[tuple[str, datetime]] = []
    for _ in range(kills):
        # Kill only a worker that is doing something: after a kill, orders wait out the
        # sticky-queue timeout before a new worker takes them, and killing an idle worker
        # proves nothing. Then wait a seeded random moment into its work.
        identity = worker.identity
        busy = await eventually(
            lambda identity=identity: _busy_or_done(drill, identity, ids),
            lambda state: state != "idle",
            timeout=60,
            what="the new worker to start working",
        )
        if busy == "done":
            break
        await asyncio.sleep(rng.uniform(0.0, 1.0))  # the seeded kill moment itself
        killed.append((identity, datetime.now(UTC)))
        worker.kill()
        report.kills += 1
        worker = await drill.workers.spawn_ready(drill.client)
    finals = await settle(drill.orders, report, ids, timeout=60 + 15 * kills)
    await audit_money(drill.store, report, finals)
    for order_id, status in finals.items():
        report.check(status.state == OrderState.COMPLETED, f"{order_id} ended {status.state}")
    # Attempts a dead worker never finished, by step; and charges it had already committed.
    attempts = await drill.store.attempts()
    dead = {identity: moment for identity, moment in killed}
    lost = [a for a in attempts if a.outcome == AttemptOutcome.RUNNING and a.worker in dead]
    report.figures["lost_attempts_by_step"] = dict(Counter(a.step for a in lost))
    committed_unreported = 0
    for attempt in lost:
        if attempt.step != StepName.CHARGE_PAYMENT:
            continue
        ledger = await drill.store.payment_ledger(attempt.workflow_id)
        if any(e.kind == "charge" and e.created_at <= dead[attempt.worker or ""] for e in ledger):
            committed_unreported += 1
    report.figures["charges_committed_before_kill_unreported"] = committed_unreported
    stock = await drill.store.stock(sku)
    report.check(stock == 0, f"stock {stock} after {orders_count} completed orders of 1 unit")
    report.seconds = time.monotonic() - started
    return report


async def _busy_or_done(drill: Drill, identity: str, order_ids: list[str]) -> str:
    attempts = await drill.store.attempts()
    if any(a.worker == identity and a.outcome == AttemptOutcome.RUNNING for a in attempts):
        return "busy"
    notified = {
        a.order_id
        for a in attempts
        if a.step == StepName.NOTIFY_CUSTOMER and a.outcome == AttemptOutcome.COMPLETED
    }
    return "done" if notified >= set(order_ids) else "idle"


# --- 2. dev server killed -------------------------------------------------------------------


async def dev_server_killed(
    server: DevServer,
    drill: Drill,
    *,
    orders_count: int = 16,
    step_delay: float = 0.3,
    prefix: str = "dk",
) -> DrillReport:
    """``kill -9`` the file-backed dev server with orders in flight, restart it on the same
    database and port: every acknowledged order must reach a final state, charged once.

    ``server`` must be owned and file-backed; it is restarted in place (its ``process``
    is replaced), so the caller's ``server.stop()`` stops the new one.
    """
    assert server.owned and server.db_file is not None, "needs our own file-backed server"
    report = DrillReport("dev server killed", orders=orders_count)
    started = time.monotonic()
    sku = f"{prefix}-sku"[:32]
    await drill.store.put_product(sku, "Drill product", Decimal("2.00"), orders_count)
    await drill.workers.spawn_ready(drill.client)
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    await asyncio.gather(*(place(drill, order_request(i, sku, step_delay=step_delay)) for i in ids))
    report.workflow_ids = [order_workflow_id(i) for i in ids]

    async def completed_steps() -> int:
        return sum(a.outcome == AttemptOutcome.COMPLETED for a in await drill.store.attempts())

    # Kill once about half of all steps are done: orders are spread over every step.
    await eventually(
        completed_steps, lambda done: done >= orders_count * 3 // 2, timeout=30,
        what="orders half-way",
    )  # fmt: skip
    assert server.process is not None
    server.process.kill()
    server.process.wait(10)
    server.process = None
    report.kills = 1
    notified = (await audit.counts(drill.store)).notifications
    report.figures["in_flight_at_kill"] = orders_count - notified
    report.check(notified < orders_count, "all orders had finished before the kill")
    down = time.monotonic()
    await asyncio.to_thread(server.start)
    report.figures["restart_seconds"] = round(time.monotonic() - down, 1)
    if not any(worker.alive for worker in drill.workers.workers):
        report.violations.append("the worker process died while the server was down")
        await drill.workers.spawn_ready(drill.client)
    finals = await settle(drill.orders, report, ids, timeout=60)
    await audit_money(drill.store, report, finals)
    for order_id, status in finals.items():
        report.check(status.state == OrderState.COMPLETED, f"{order_id} ended {status.state}")
    stock = await drill.store.stock(sku)
    report.check(stock == 0, f"stock {stock} after {orders_count} completed orders of 1 unit")
    report.seconds = time.monotonic() - started
    return report


# --- 3. no oversell -------------------------------------------------------------------------


async def no_oversell(
    drill: Drill,
    *,
    orders_count: int = 200,
    stock: int = 50,
    workers: int = 2,
    prefix: str = "os",
) -> DrillReport:
    """Many concurrent one-unit orders on few units, several worker processes: exactly
    ``stock`` complete, the rest fail as out of stock, stock ends at 0, never below."""
    report = DrillReport("no oversell", orders=orders_count)
    started = time.monotonic()
    sku = f"{prefix}-sku"[:32]
    await drill.store.put_product(sku, "Scarce product", Decimal("1.00"), stock)
    await asyncio.gather(*(drill.workers.spawn_ready(drill.client) for _ in range(workers)))
    lowest = stock
    done = asyncio.Event()

    async def watch_stock() -> None:
        nonlocal lowest
        while not done.is_set():
            lowest = min(lowest, await drill.store.stock(sku))
            await asyncio.sleep(0.05)  # sampling period of the observer, not synchronisation

    watcher = asyncio.create_task(watch_stock())
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    try:
        await asyncio.gather(*(place(drill, order_request(i, sku)) for i in ids))
        report.workflow_ids = [order_workflow_id(i) for i in ids]
        finals = await settle(drill.orders, report, ids, timeout=60 + 0.5 * orders_count)
    finally:
        done.set()
        await watcher
    await audit_money(drill.store, report, finals)
    completed = report.states[OrderState.COMPLETED.value]
    out_of_stock = [
        s for s in finals.values()
        if s.state == OrderState.FAILED and "out of stock" in (s.error or "")
    ]  # fmt: skip
    left = await drill.store.stock(sku)
    report.oversold = max(0, completed - stock)
    report.figures.update(lowest_stock_seen=lowest, final_stock=left, workers=workers)
    report.check(completed == min(stock, orders_count), f"{completed} completed, stock {stock}")
    report.check(
        len(out_of_stock) == orders_count - completed,
        f"{len(out_of_stock)} out-of-stock failures of {orders_count - completed} others",
    )
    report.check(left == max(0, stock - orders_count), f"stock ends at {left}")
    report.check(lowest >= 0, f"stock seen at {lowest}")
    report.seconds = time.monotonic() - started
    return report


# --- 4. cancel races ------------------------------------------------------------------------


CANCEL_DOORS = ("update", "signal", "temporal")
"""How a drill cancels: the Update (answers), the Signal, or Temporal's own cancellation
(``handle.cancel()``, what ``temporal workflow cancel`` and the UI do)."""


async def cancel_races(
    drill: Drill,
    *,
    orders_count: int = 30,
    seed: int = 7,
    step_delay: float = 0.25,
    latency: float = 0.5,
    prefix: str = "cr",
    door: str = "update",
) -> DrillReport:
    """Cancel every order at a seeded random moment (some twice, concurrently) through one
    door. An accepted cancel ends CANCELLED (the Update's answer is checked against the
    final state; for the Signal and Temporal's cancel, an order still running when the cancel
    arrived must end CANCELLED); a cancelled order keeps no money and gets its stock back;
    a completed one is charged exactly once. Temporal's cancel closes the run CANCELED."""
    if door not in CANCEL_DOORS:
        raise ValueError(f"door must be one of {CANCEL_DOORS}")
    title = "cancel races" if door == "update" else f"cancel races ({door})"
    report = DrillReport(title, orders=orders_count)
    report.figures["seed"] = seed
    started = time.monotonic()
    rng = random.Random(seed)
    await drill.workers.spawn_ready(drill.client)

    def request_for_sku(sku: str, order_id: str) -> OrderRequest:
        return order_request(
            order_id,
            sku,
            quantity=2,
            step_delay=step_delay,
            faults={"charge_payment": {"latency": latency}},
        )

    # Calibrate on this machine, now, at this concurrency: the median time an uncancelled
    # batch of the same size takes per order. Cancels then land uniformly over 1.5 times
    # that, which covers every phase and "too late" (about a third).
    async def timed(order_id: str) -> float:
        await drill.store.put_product(f"{order_id}-sku"[:32], "Drill", Decimal("3.00"), 5)
        begin = time.monotonic()
        await place(drill, request_for_sku(f"{order_id}-sku"[:32], order_id))
        await drill.orders.wait(order_id)
        return time.monotonic() - begin

    durations = sorted(
        await asyncio.wait_for(
            asyncio.gather(*(timed(f"{prefix}-cal-{i}") for i in range(orders_count))), 120
        )
    )
    duration = durations[len(durations) // 2]
    report.figures["uncancelled_order_seconds"] = round(duration, 2)
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    report.workflow_ids = [order_workflow_id(i) for i in ids]
    moments = [rng.uniform(0, 1.5 * duration) for _ in ids]
    cancels = [2 if rng.random() < 0.25 else 1 for _ in ids]
    answers: dict[str, list[str]] = {}
    phases: Counter[str] = Counter()

    async def try_cancel(order_id: str) -> str:
        if door == "update":
            try:
                status = await drill.orders.cancel(order_id, "drill")
            except errors.NotCancellableError:
                return "rejected"
            phases[status.current_step.value if status.current_step else "before any step"] += 1
            return "accepted"
        before = await drill.orders.status(order_id)
        try:
            if door == "signal":
                await drill.orders.cancel(order_id, "drill", signal=True)
            else:
                await drill.orders.handle(order_id).cancel(reason="drill")
        except (errors.NotCancellableError, RPCError):  # the run had already closed
            return "rejected"
        phases[before.current_step.value if before.current_step else "before any step"] += 1
        return "sent" if before.cancellable else "sent late"

    async def run_one(index: int, order_id: str) -> None:
        await drill.store.put_product(f"{prefix}-{index}-sku"[:32], "Drill", Decimal("3.00"), 5)
        request = request_for_sku(f"{prefix}-{index}-sku"[:32], order_id)
        await place(drill, request)
        await asyncio.sleep(moments[index])  # the seeded random cancel moment itself
        answers[order_id] = list(
            await asyncio.gather(*(try_cancel(order_id) for _ in range(cancels[index])))
        )

    await asyncio.gather(*(run_one(index, order_id) for index, order_id in enumerate(ids)))
    finals = await settle(drill.orders, report, ids, timeout=60)
    await audit_money(drill.store, report, finals)
    for index, order_id in enumerate(ids):
        if order_id not in finals:
            continue  # counted by settle()
        status = finals[order_id]
        accepted = answers[order_id].count("accepted")
        stock = await drill.store.stock(f"{prefix}-{index}-sku"[:32])
        report.check(accepted <= 1, f"{order_id}: {accepted} cancels accepted")
        if door == "update" and accepted:
            report.check(
                status.state == OrderState.CANCELLED, f"{order_id}: cancel accepted, {status.state}"
            )
        elif door == "update":
            report.check(
                status.state != OrderState.CANCELLED, f"{order_id}: cancel rejected, CANCELLED"
            )
        elif "sent" in answers[order_id] and status.state != OrderState.CANCELLED:
            # Sent while cancellable, yet completed: only the dispatch may have won the race
            # (it is the point of no return, decided in the workflow when the parcel is packed).
            shipment = status.shipment.state.value if status.shipment else "no shipment"
            report.check(
                shipment == "dispatched",
                f"{order_id}: cancel sent in time, {status.state}, shipment {shipment}",
            )
            report.figures["dispatch_won"] = report.figures.get("dispatch_won", 0) + 1
        if door == "temporal":
            closed = (await drill.orders.handle(order_id).describe()).status
            cancelled = status.state == OrderState.CANCELLED
            report.check(
                (closed == WorkflowExecutionStatus.CANCELED) == cancelled,
                f"{order_id}: {status.state} but Temporal closed it {closed}",
            )
        if status.state == OrderState.CANCELLED:
            report.check(stock == 5, f"{order_id} CANCELLED with stock {stock} (not restored)")
        elif status.state == OrderState.COMPLETED:
            report.check(stock == 3, f"{order_id} COMPLETED with stock {stock}")
    report.figures["cancelled_in_phase"] = dict(sorted(phases.items()))
    report.figures["rejected"] = sum(a.count("rejected") for a in answers.values())
    report.figures["double_cancels"] = sum(n == 2 for n in cancels)
    report.seconds = time.monotonic() - started
    return report


# --- 7. terminated at random moments, then reconciled -----------------------------------------


async def terminate_races(
    drill: Drill,
    *,
    orders_count: int = 20,
    seed: int = 11,
    step_delay: float = 0.25,
    latency: float = 0.5,
    prefix: str = "tr",
) -> DrillReport:
    """Terminate every order at a seeded random moment (no workflow code runs then), run
    the reconciler twice. Every terminated order ends with no money taken and its stock
    back, repaired at most once; orders that completed first are charged exactly once."""
    report = DrillReport("terminate + reconcile", orders=orders_count)
    report.figures["seed"] = seed
    started = time.monotonic()
    rng = random.Random(seed)
    await drill.workers.spawn_ready(drill.client)
    ids = [f"{prefix}-{i}" for i in range(orders_count)]
    report.workflow_ids = [order_workflow_id(i) for i in ids]
    moments = [rng.uniform(0, 4 * (step_delay + latency)) for _ in ids]
    terminated: set[str] = set()

    async def run_one(index: int, order_id: str) -> None:
        sku = f"{prefix}-{index}-sku"[:32]
        await drill.store.put_product(sku, "Drill", Decimal("3.00"), 5)
        await place(
            drill,
            order_request(
                order_id,
                sku,
                quantity=2,
                step_delay=step_delay,
                faults={"charge_payment": {"latency": latency}},
            ),
        )
        await asyncio.sleep(moments[index])  # the seeded random moment
        try:
            await drill.orders.handle(order_id).terminate(reason="drill")
            terminated.add(order_id)
        except RPCError:  # completed first
            pass

    await asyncio.gather(*(run_one(index, order_id) for index, order_id in enumerate(ids)))
    first = await drill.orders.reconcile()
    second = await drill.orders.reconcile()
    report.figures["terminated"] = len(terminated)
    report.figures["repaired"] = len(first.repaired)
    report.check(second.repaired == [], f"a second reconcile repaired {len(second.repaired)} again")
    finals = await settle(drill.orders, report, ids, timeout=60)
    await audit_money(drill.store, report, finals)
    shipped = await audit.dispatched(drill.store, report.workflow_ids)
    report.figures["terminated_after_dispatch"] = len(
        {order_workflow_id(i) for i in terminated} & shipped
    )
    for index, order_id in enumerate(ids):
        if order_id not in finals:
            continue
        sku = f"{prefix}-{index}-sku"[:32]
        stock = await drill.store.stock(sku)
        repairs = await drill.store.repairs_of(order_workflow_id(order_id))
        report.check(len(repairs) <= 1, f"{order_id} repaired {len(repairs)} times")
        if order_id in terminated:
            report.check(
                finals[order_id].state == OrderState.FAILED,
                f"{order_id} terminated but {finals[order_id].state}",
            )
        kept = finals[order_id].state == OrderState.COMPLETED
        expected = 3 if kept or order_workflow_id(order_id) in shipped else 5
        report.check(stock == expected, f"{order_id} {finals[order_id].state} with stock {stock}")
    report.seconds = time.monotonic() - started
    return report


# --- 6. idempotency ------------------------------------------------------------------------


async def idempotent_create(
    drill: Drill, *, repeats: int = 20, prefix: str = "idem"
) -> DrillReport:
    """The same create sent ``repeats`` times at once starts one workflow and one charge;
    a repeat after completion changes nothing; the same id with another body is refused."""
    report = DrillReport("idempotent create", orders=1)
    started = time.monotonic()
    sku = f"{prefix}-sku"[:32]
    await drill.store.put_product(sku, "Drill product", Decimal("4.00"), 10)
    await drill.workers.spawn_ready(drill.client)
    request = order_request(prefix, sku, quantity=2)
    report.workflow_ids = [request.workflow_id]
    created = await asyncio.gather(*(place(drill, request) for _ in range(repeats)))
    report.figures["creates_sent"] = repeats
    report.figures["created"] = sum(created)
    report.check(sum(created) == 1, f"{sum(created)} of {repeats} creates started a workflow")
    finals = await settle(drill.orders, report, [prefix], timeout=30)
    await audit_money(drill.store, report, finals)
    report.check(
        finals[prefix].state == OrderState.COMPLETED, f"order ended {finals[prefix].state}"
    )
    report.check(not await place(drill, request), "a repeat after completion started again")
    try:
        await place(drill, order_request(prefix, sku, quantity=3))
        report.violations.append("the same id with a different body was accepted")
    except errors.OrderConflictError:
        pass
    stock = await drill.store.stock(sku)
    report.check(stock == 8, f"stock {stock}: reserved more than once")
    # Temporal's own record: exactly one run ever had this workflow id.
    query = f"WorkflowId = '{request.workflow_id}' AND ExecutionStatus != 'Running'"
    runs = await eventually(
        lambda: drill.client.count_workflows(query), lambda c: c.count >= 1, what="visibility"
    )
    report.figures["runs"] = runs.count
    report.check(runs.count == 1, f"{runs.count} runs of {request.workflow_id}")
    report.seconds = time.monotonic() - started
    return report
