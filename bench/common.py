"""Shared machinery of the benchmarks: dev servers, workers, interleaved runs, tables.

Every comparison runs its cases **interleaved in one process on the same machine and
moment** (A, B, then B, A, ...), because this 2-core machine is shared and noisy:
absolute numbers drift by tens of percent between minutes, ratios measured side by side
much less. Reported figures are medians over rounds; the ratio is the median of the
per-round ratios.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from bench import baseline
from bench.drillkit.procs import WorkerPool
from orderflow import loadgen
from orderflow.activities import OrderActivities, ShipmentActivities
from orderflow.config import Settings
from orderflow.devserver import LOW_LATENCY_CONFIG, DevServer, free_port
from orderflow.loadgen import LoadResult, Outcome
from orderflow.models import (
    ORDER_CUSTOMER_KEY,
    ORDER_STATE_KEY,
    WORKFLOW_TYPE,
    OrderRequest,
    OrderState,
)
from orderflow.orders import Orders
from orderflow.stack import open_stack
from orderflow.store import Store
from orderflow.worker import build_worker
from orderflow.workflows import OrderWorkflow, ShipmentWorkflow

console = Console()


def run_script(main: Callable[[], object]) -> None:
    """Run a benchmark's ``main`` and leave through ``os._exit``: the Temporal SDK can abort
    at interpreter shutdown (temporalio/sdk-python#300), replacing a finished run's status."""
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# Activity failures and worker start-up chatter are not what a benchmark reports.
logging.getLogger("temporalio").setLevel(logging.ERROR)


@dataclass
class Env:
    """One dev server, a client and an orderflow store, for the length of a benchmark."""

    server: DevServer
    client: Client
    store: Store
    data_dir: Path
    settings: Settings

    def orders(self, task_queue: str, store: Store | None = None) -> Orders:
        """The door to orders on ``task_queue`` (the real path every caller takes)."""
        return Orders(self.client, store or self.store, task_queue=task_queue)


@asynccontextmanager
async def open_env(
    *, in_memory: bool = False, dynamic_config: dict[str, str] | None = None
) -> AsyncIterator[Env]:
    """A throwaway dev server (file-backed with WAL unless ``in_memory``) on free ports."""
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as tmp:
        data_dir = Path(tmp)
        server = DevServer(
            port=free_port(),
            ui_port=None,
            db_file=None if in_memory else data_dir / "temporal.db",
            log_file=data_dir / "temporal.log",
            dynamic_config=dict(LOW_LATENCY_CONFIG if dynamic_config is None else dynamic_config),
        )
        settings = Settings(data_dir=data_dir)
        async with open_stack(settings, devserver=server, worker=False) as stack:
            yield Env(server, stack.client, stack.store, data_dir, stack.settings)


def order_worker(
    env: Env,
    task_queue: str,
    *,
    store: Store | None = None,
    tracking: str = "group",
    **options: Any,
) -> Worker:
    """The real order worker (``build_worker``), or a variant of its attempt tracking:
    ``tracking="two-write"`` (as first written, see ``bench/variants.py``) or ``"none"``."""
    from bench.variants import TwoWriteAttemptTracking

    store = store or env.store
    if tracking == "group":
        return build_worker(env.client, store, env.settings, task_queue=task_queue, **options)
    interceptors = [TwoWriteAttemptTracking(store)] if tracking == "two-write" else []
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow, ShipmentWorkflow],
        activities=[*OrderActivities(store).all(), *ShipmentActivities(store).all()],
        interceptors=interceptors,
        **options,
    )


def baseline_worker(env: Env, task_queue: str, **options: Any) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=baseline.WORKFLOWS,
        activities=baseline.ACTIVITIES,
        **options,
    )


class BaselinePool(WorkerPool):
    """Baseline worker processes (``python -m bench.baseline``), started like the drills'."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "bench.baseline",
            "--address", self.address, "--task-queue", self.task_queue,
        ]  # fmt: skip


@asynccontextmanager
async def worker_processes(
    env: Env, order_queue: str, base_queue: str
) -> AsyncIterator[dict[str, int]]:
    """An ``orderflow worker`` process exactly as a user starts it (default settings, INFO
    logs to a file) and a baseline worker process, both polling before this yields their
    process ids (``{"order worker": pid, "baseline worker": pid}``, for :class:`CpuMeter`).

    Separate processes, as in production: the load driver in this process does not share a
    GIL or an event loop with the worker it measures.
    """
    logs = env.data_dir / "logs"
    # The worker reuses the benchmark's store and server; no reconciler schedule to run.
    common = {"ORDERFLOW_RECONCILE_EVERY": "0"}
    with (
        WorkerPool(env.server.address, order_queue, env.data_dir, logs, env=common) as orders,
        BaselinePool(env.server.address, base_queue, env.data_dir, logs / "baseline") as base,
    ):
        order_worker = await orders.spawn_ready(env.client)
        base_worker = await base.spawn_ready(env.client)
        yield {"order worker": order_worker.pid, "baseline worker": base_worker.pid}


@asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield


# --- one measured run ------------------------------------------------------------------


async def run_orders(
    env: Env,
    task_queue: str,
    orders: int,
    concurrency: int,
    *,
    store: Store | None = None,
    **extra: Any,
) -> LoadResult:
    """Real orders through the package's own path (``loadgen.run_load``); ``extra`` goes
    into every create payload (``local_activities=True``)."""
    return await loadgen.run_load(
        env.orders(task_queue, store), orders=orders, concurrency=concurrency, extra=extra
    )


async def run_orders_direct(
    env: Env, task_queue: str, orders: int, concurrency: int, *, eager: bool = True, **extra: Any
) -> LoadResult:
    """Orders started with ``client.start_workflow`` directly (to vary start options)."""
    run_id = uuid.uuid4().hex[:8]
    sku = f"bench-{run_id}"
    await env.store.put_product(sku, "bench item", Decimal("1.00"), orders)

    async def unit(index: int) -> Outcome:
        request = OrderRequest.model_validate(
            {
                "order_id": f"bd-{run_id}-{index}",
                "customer_id": "bench",
                "items": [{"sku": sku, "quantity": 1}],
                **extra,
            }
        )
        handle = await env.client.start_workflow(
            WORKFLOW_TYPE,
            request,
            id=request.workflow_id,
            task_queue=task_queue,
            request_eager_start=eager,
        )
        final = await handle.result()
        return str(final["state"] if isinstance(final, dict) else final.state), None

    return await loadgen.drive(unit, orders=orders, concurrency=concurrency)


async def run_baseline(
    env: Env,
    task_queue: str,
    orders: int,
    concurrency: int,
    *,
    local: bool = False,
    visible: bool = False,
) -> LoadResult:
    """The same-shape no-op workflow, started the same way (eager start), timed the same way.

    ``visible``: the variant that also writes the order's search attributes (started with
    them, as ``Orders.place`` starts an order), see :mod:`bench.baseline`."""
    run_id = uuid.uuid4().hex[:8]
    workflow = baseline.LOCAL_BASELINE_WORKFLOW if local else baseline.BASELINE_WORKFLOW
    start_attributes = None
    if visible:
        workflow = baseline.VISIBLE_BASELINE_WORKFLOW
        start_attributes = TypedSearchAttributes(
            [
                SearchAttributePair(ORDER_STATE_KEY, OrderState.PENDING.value),
                SearchAttributePair(ORDER_CUSTOMER_KEY, "bench"),
            ]
        )

    async def unit(index: int) -> Outcome:
        state = await env.client.execute_workflow(
            workflow,
            f"{run_id}-{index}",
            id=f"baseline-{run_id}-{index}",
            task_queue=task_queue,
            request_eager_start=True,
            search_attributes=start_attributes,
        )
        return str(state), None

    return await loadgen.drive(unit, orders=orders, concurrency=concurrency)


# --- where the CPU goes -----------------------------------------------------------------

Case = Callable[[], Awaitable[LoadResult]]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux ``/proc``; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


IDLE_MS_PER_ORDER = 0.5
"""Below this a process did no work for the case (the other case's worker, just polling)."""


def busy(spent: dict[str, float]) -> dict[str, float]:
    """The processes that worked for a case (CPU ms per order at least
    :data:`IDLE_MS_PER_ORDER`)."""
    return {label: value for label, value in spent.items() if value >= IDLE_MS_PER_ORDER}


@dataclass
class CpuMeter:
    """CPU milliseconds per order that each process (the dev server, each worker, this
    driver) spends during a case: on a machine whose cores are all busy, throughput is
    what the slowest-to-feed part allows, and this shows which part that is."""

    pids: dict[str, int]
    spent: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        now = {label: cpu_seconds(pid) for label, pid in self.pids.items()}
        now["driver"] = time.process_time()
        return {label: value for label, value in now.items() if value is not None}

    def wrap(self, name: str, case: Case, orders: int) -> Case:
        async def measured() -> LoadResult:
            before = self._now()
            result = await case()
            after = self._now()
            self.spent.setdefault(name, []).append(
                {
                    label: round((after[label] - before[label]) * 1000 / orders, 1)
                    for label in after.keys() & before.keys()
                }
            )
            return result

        return measured

    def per_order(self, rounds: int) -> dict[str, dict[str, float]]:
        """Case -> process -> median CPU ms per order over the last ``rounds`` runs (the
        warm-up run is left out); a process idle in a case (the other case's worker, just
        polling) is left out of that case."""
        table: dict[str, dict[str, float]] = {}
        for name, runs in self.spent.items():
            measured = runs[-rounds:]
            labels = sorted({label for run in measured for label in run})
            table[name] = busy(
                {
                    label: round(statistics.median(run.get(label, 0.0) for run in measured), 1)
                    for label in labels
                }
            )
        return table


# --- interleaving and reporting ---------------------------------------------------------


async def interleave(cases: dict[str, Case], rounds: int, *, warmup: bool = True) -> Results:
    """Run every case once per round, alternating the order between rounds (ABBA...)."""
    names = list(cases)
    if warmup:
        for name in names:
            await cases[name]()
    results: dict[str, list[LoadResult]] = {name: [] for name in names}
    for round_no in range(rounds):
        order = names if round_no % 2 == 0 else list(reversed(names))
        for name in order:
            results[name].append(await cases[name]())
    return Results(results)


@dataclass
class Results:
    runs: dict[str, list[LoadResult]]

    def median(self, name: str, metric: str) -> float:
        return float(statistics.median(getattr(run, metric) for run in self.runs[name]))

    def ratio(self, a: str, b: str, metric: str) -> float:
        """Median over rounds of ``metric(a) / metric(b)`` measured in the same round."""
        pairs = zip(self.runs[a], self.runs[b], strict=True)
        return round(
            statistics.median(getattr(x, metric) / getattr(y, metric) for x, y in pairs), 3
        )

    def states(self, name: str) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs[name]:
            for state, count in run.by_state.items():
                total[state] = total.get(state, 0) + count
        return total


@dataclass
class Comparison:
    """One benchmark's outcome: its table rows and its headline ratio against a target."""

    name: str
    title: str
    metric: str
    a: str
    b: str
    ratio: float
    target: str
    meets: bool | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    cpu_ms_per_order: dict[str, dict[str, float]] = field(default_factory=dict)
    """Case -> process -> CPU ms per order (:class:`CpuMeter`), where measured."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "ratio": self.ratio,
            "target": self.target,
            "meets": self.meets,
            "rows": self.rows,
            "params": self.params,
            "cpu_ms_per_order": self.cpu_ms_per_order,
        }


def compare(
    name: str,
    title: str,
    results: Results,
    *,
    a: str,
    b: str,
    metric: str,
    target: tuple[str, float] | None,
    params: dict[str, Any],
) -> Comparison:
    ratio = results.ratio(a, b, metric)
    meets: bool | None = None
    if target is not None:
        op, bound = target
        meets = ratio >= bound if op == ">=" else ratio <= bound
    rows = [
        {
            "case": case,
            "throughput_per_s": results.median(case, "throughput_per_s"),
            "p50_ms": results.median(case, "p50_ms"),
            "p99_ms": results.median(case, "p99_ms"),
            "rounds": len(results.runs[case]),
            "states": results.states(case),
        }
        for case in results.runs
    ]
    shown = f"{target[0]} {target[1]:g}" if target else "none"
    return Comparison(name, title, metric, a, b, ratio, shown, meets, rows=rows, params=params)


def show(comparison: Comparison, *, as_json: bool = False) -> None:
    """Print the table and the ratio line (or one JSON object)."""
    if as_json:
        print(json.dumps(comparison.as_dict()))
        return
    table = Table(
        "case", "done/s", "p50 ms", "p99 ms", "rounds", "final states",
        title=f"{comparison.title} ({_params(comparison.params)})",
    )  # fmt: skip
    for row in comparison.rows:
        table.add_row(
            row["case"],
            f"{row['throughput_per_s']:.1f}",
            f"{row['p50_ms']:.0f}",
            f"{row['p99_ms']:.0f}",
            str(row["rounds"]),
            ", ".join(f"{k} {v}" for k, v in sorted(row["states"].items())),
        )
    console.print(table)
    if comparison.cpu_ms_per_order:
        cpu = Table("case", "CPU ms per order, by process", title="Where the CPU goes")
        for case, spent in comparison.cpu_ms_per_order.items():
            cpu.add_row(case, cpu_split(spent))
        console.print(cpu)
    verdict = {True: "[green]meets[/]", False: "[red]misses[/]", None: ""}[comparison.meets]
    console.print(
        f"ratio {comparison.a} / {comparison.b} ({comparison.metric}, median of rounds): "
        f"[bold]{comparison.ratio:.2f}x[/]  target {comparison.target}  {verdict}"
    )


def cpu_split(spent: dict[str, float]) -> str:
    """``server 130.2 + order worker 80.1 + driver 8.0 = 218.3`` (idle processes left out:
    reports measured before :meth:`CpuMeter.per_order` dropped them still list them)."""
    shown = busy(spent)
    parts = " + ".join(f"{label} {value:.1f}" for label, value in shown.items())
    return f"{parts} = {sum(shown.values()):.1f}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def machine() -> dict[str, Any]:
    """What the numbers were measured on (they mean little without it)."""
    import os

    import temporalio

    from orderflow.devserver import temporal_binary

    cpu = platform.processor() or platform.machine()
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import subprocess

    version = subprocess.run(
        [temporal_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": model or cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "temporal": version,
    }


def common_args(parser: Any, *, orders: int, concurrency: int, rounds: int) -> None:
    parser.add_argument("--orders", type=int, default=orders, help="workflows per run")
    parser.add_argument("--concurrency", type=int, default=concurrency, help="in flight")
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def queue(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}"
