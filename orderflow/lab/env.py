"""One call sets up a notebook: ``env = await orderflow.notebook.start()``.

It opens the stack (:func:`orderflow.stack.open_stack`: the file-backed dev server in the
data dir when nothing answers at the configured local address, the store, the ``Orders``
door) and runs a worker as a task on the kernel's own event loop, so later cells simply
``await`` the door while the worker keeps processing orders in the background. The
returned :class:`NotebookEnv` holds the door (``env.orders``), the client, the store and
the settings, plus small helpers the tutorials use (``place_order``, ``status``, ``wait``,
``cancel``, ``stop_worker``/``start_worker``, ``workflow_url``,
``history``/``attempts``/``plot``) and ``await env.stop()``.

Lifecycle rules (why it is built this way):

- **Idempotent.** Running the set-up cell again returns the same env and the same worker,
  as long as it is still running on the same loop; two workers never appear by accident.
- **No orphan processes.** A dev server started here is a child of the kernel that dies
  with it (``PR_SET_PDEATHSIG`` in :mod:`orderflow.devserver`). ``atexit`` would not be
  enough: Jupyter and nbval SIGKILL kernels, and no Python code runs then. After a kernel
  restart, a server that still answers (for example one of ``orderflow up``) is reused;
  one still shutting down is waited for and replaced.
- **The server belongs to the kernel that started it.** A second notebook started while
  the first runs reuses that server and loses it when the first kernel stops; for several
  notebooks at once, run ``orderflow devserver`` (or ``make run``) in a terminal first.
- **No nest-asyncio.** IPython runs cells with top-level ``await`` on the kernel's loop, and
  every helper here is a coroutine, so nothing synchronous ever has to block on the running
  loop (the only case nest-asyncio exists for). Widget callbacks, which are synchronous,
  schedule tasks instead (see :mod:`orderflow.lab.console`). Patching the loop would only hide
  a blocking call that freezes the background worker.
- **Quiet cells.** Worker and workflow logs, and the SDK core's own (Rust) log lines, go to
  ``<data dir>/notebook.log`` instead of whichever cell happens to be running: the kernel
  captures process-level stderr into the current cell, which would clutter the tutorial and
  make its outputs unreproducible.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from orderflow import logs
from orderflow.config import Settings, get_settings, private_dir, private_file
from orderflow.connection import connect
from orderflow.devserver import DevServer
from orderflow.lab.sdkmetrics import SdkMetrics
from orderflow.links import workflow_url
from orderflow.models import (
    TASK_QUEUE,
    FaultPlan,
    OrderRequest,
    OrderStatus,
    RetrySettings,
    StepName,
    StepStatus,
    order_workflow_id,
)
from orderflow.orders import Orders
from orderflow.stack import Stack, open_stack
from orderflow.store import Store
from orderflow.supervisor import WorkerSupervisor
from orderflow.worker import BackgroundWorker, build_worker

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DEFAULT_IDENTITY = "notebook-worker"
NOTEBOOK_TASK_QUEUE = f"{TASK_QUEUE}-notebook"
"""The notebooks' own task queue (unless ``ORDERFLOW_TASK_QUEUE`` says otherwise): with
``make run`` going on the same server, its worker polls ``orderflow`` with another store
(the data dir is relative to the working directory) and would otherwise take the notebook's
orders, and keep them moving while a tutorial has stopped its own worker."""
LOG_FILE = "notebook.log"

POLL_EVERY = 0.1
_LOGGERS = ("temporalio", "orderflow")


@dataclass
class NotebookEnv:
    """Everything a notebook cell needs: the ``Orders`` door, workers and helpers."""

    stack: Stack
    identity: str = DEFAULT_IDENTITY
    extra_workers: dict[str, BackgroundWorker] = field(default_factory=dict)
    workers: WorkerSupervisor | None = None
    """Worker *processes* (:meth:`start_worker_processes`), which can be killed for real."""
    loop: asyncio.AbstractEventLoop | None = None
    closed: bool = False
    _exits: AsyncExitStack = field(default_factory=AsyncExitStack)
    _issued_ids: set[str] = field(default_factory=set)

    # --- describing itself ------------------------------------------------------------

    @property
    def orders(self) -> Orders:
        """The door to orders (place, status, wait, cancel, list, timeline, ledger)."""
        return self.stack.orders

    @property
    def client(self) -> Client:
        return self.stack.client

    @property
    def store(self) -> Store:
        return self.stack.store

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def server(self) -> DevServer | None:
        """The dev server, when this env started it (it is stopped by :meth:`stop`)."""
        return self.stack.server

    @property
    def ui_url(self) -> str | None:
        """Base of the Temporal UI's links (dev server, Codespaces, Temporal Cloud, or
        ``ORDERFLOW_UI_URL``)."""
        return self.stack.ui_url

    @property
    def worker(self) -> BackgroundWorker:
        assert self.stack.worker is not None
        return self.stack.worker

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    @property
    def owns_server(self) -> bool:
        return self.server is not None

    def __repr__(self) -> str:
        origin = "started here" if self.owns_server else "already running"
        workers = [self.identity, *self.extra_workers] if self.worker.running else []
        return (
            f"NotebookEnv(temporal={self.settings.address} ({origin}), "
            f"namespace={self.settings.namespace!r}, task_queue={self.task_queue!r}, "
            f"workers={workers}, ui={self.ui_url or 'none'})"
        )

    def workflow_url(self, order_id: str) -> str | None:
        """Link to the order's workflow in the Temporal UI, wherever that UI is (see
        :mod:`orderflow.links`); None when this env started its server without the UI."""
        return workflow_url(self.ui_url, self.settings.namespace, order_workflow_id(order_id))

    # --- orders -----------------------------------------------------------------------

    async def new_order_id(self, name: str) -> str:
        """``name`` itself if no order has it yet, else ``name-2``, ``name-3``, ...

        Tutorials use readable fixed ids; in a fresh data dir (as under nbval) they come out
        exactly as written, and re-running a notebook on a kept data dir still works.
        """
        candidate, n = name, 1
        while candidate in self._issued_ids or await self.orders.exists(candidate):
            n += 1
            candidate = f"{name}-{n}"
        self._issued_ids.add(candidate)
        return candidate

    async def place_order(
        self,
        sku: str,
        quantity: int = 1,
        *,
        order_id: str | None = None,
        customer_id: str = "ada",
        customer_name: str | None = None,
        step_delay: float = 0.0,
        faults: FaultPlan | Mapping[str, Any] | None = None,
        retry: RetrySettings | Mapping[str, Any] | None = None,
        client: Client | None = None,
    ) -> str:
        """Start an order for one product and return its id (validated: bad input raises).

        ``client`` starts it through another client (default: the env's own). The env's
        client has the background worker attached, so Temporal's *eager start* hands the
        order's first task straight to that worker; a client without a worker in its
        process (like the HTTP API's) lets the server give it to any worker.
        """
        request = OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "customer_name": customer_name,
                "items": [{"sku": sku, "quantity": quantity}],
                "step_delay": step_delay,
                "faults": _plain(faults),
                "retry": _plain(retry),
            }
        )
        door = self.orders
        if client is not None:
            door = Orders(
                client, self.store, task_queue=door.task_queue, allow_faults=door.allow_faults
            )
        return (await door.place(request)).order_id

    async def status(self, order_id: str) -> OrderStatus:
        """The order as its workflow reports it right now (see :meth:`Orders.status`)."""
        return await self.orders.status(order_id)

    async def wait(self, order_id: str, timeout: float = 30.0) -> OrderStatus:
        """Wait until the order is final; a clear error instead of a hung cell."""
        try:
            return await self.orders.wait(order_id, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"order {order_id} is not final after {timeout:g} s "
                f"(is a worker running? {self.worker.running})"
            ) from None

    async def wait_for_step(
        self,
        order_id: str,
        step: StepName | str,
        status: StepStatus | str = StepStatus.COMPLETED,
        timeout: float = 30.0,
    ) -> OrderStatus:
        """Poll the order's status until ``step`` has ``status``; return that status."""
        step, status = StepName(step), StepStatus(status)
        deadline = time.monotonic() + timeout
        while True:
            current = await self.status(order_id)
            if current.step(step).status == status:
                return current
            if current.state.is_final or time.monotonic() > deadline:
                raise TimeoutError(
                    f"order {order_id}: {step.value} did not become {status.value} "
                    f"(order is {current.state.value}, step is {current.step(step).status.value})"
                )
            await asyncio.sleep(POLL_EVERY)

    async def cancel(self, order_id: str, reason: str = "", *, signal: bool = False) -> Any:
        """Cancel by Update (answers, or raises ``NotCancellableError``) or by Signal."""
        status = await self.orders.cancel(order_id, reason, signal=signal)
        return None if signal else status

    async def restock(self, sku: str, stock: int, price: str = "10.00", name: str = "") -> str:
        """Create or reset a product, so a tutorial starts from known stock."""
        await self.store.put_product(sku, name or sku.replace("-", " ").capitalize(), price, stock)
        return sku

    # --- workers ----------------------------------------------------------------------

    async def stop_worker(self) -> None:
        """Stop the background worker (orders pause; Temporal keeps their state)."""
        await self.worker.stop()

    async def start_worker(self) -> None:
        """Start a fresh worker; paused orders continue where they stopped."""
        self.worker.start()

    async def connect(self) -> Client:
        """A new client to the same Temporal (no worker attached to it)."""
        return await connect(self.settings, runtime=notebook_runtime())

    async def add_worker(
        self,
        identity: str,
        *,
        metrics: SdkMetrics | None = None,
        allow_faults: bool | None = None,
    ) -> None:
        """Run one more worker with its own identity. With ``metrics``, the worker gets a
        client of its own whose runtime records the SDK's metrics into that buffer (read
        them with ``metrics.collect()``). Re-adding a running worker is a no-op.

        ``allow_faults=False`` makes it a worker that ignores the orders' fault plans:
        tutorial 09's stand-in for a build with the bug fixed."""
        existing = self.extra_workers.get(identity)
        if existing is not None and existing.running:
            return
        client = self.client
        if metrics is not None:
            if metrics.runtime is None:  # a buffer belongs to one runtime for good
                metrics.runtime = notebook_runtime(metrics.buffer)
            client = await connect(self.settings, runtime=metrics.runtime)
        store, settings = self.store, self.settings
        if allow_faults is not None:
            settings = settings.model_copy(update={"allow_faults": allow_faults})
        self.extra_workers[identity] = BackgroundWorker(
            lambda: build_worker(client, store, settings, identity=identity)
        ).start()

    async def start_worker_processes(
        self, count: int = 2, *, prefix: str = "worker"
    ) -> WorkerSupervisor:
        """Run ``count`` ``orderflow worker`` processes on this env's server, task queue and
        data dir, and return once they poll. Unlike the worker in the kernel, a process can
        be killed with SIGKILL (``env.workers.kill("worker-1")``) like a real crash; the
        order console shows Stop / Kill / Start for them. Stopped by :meth:`stop`."""
        if self.workers is not None:
            await self.workers.close()
        supervisor = WorkerSupervisor(
            self.client, self.settings, server=self.server, count=count, prefix=prefix
        )
        self.workers = supervisor
        await supervisor.start_all()
        await supervisor.wait_running()
        return supervisor

    async def remove_worker(self, identity: str) -> None:
        worker = self.extra_workers.pop(identity, None)
        if worker is not None:
            await worker.stop()

    # --- looking inside ---------------------------------------------------------------

    async def attempts(self, order_id: str) -> pd.DataFrame:
        """Every activity attempt of the order, one row each (see :mod:`orderflow.lab.timeline`)."""
        from orderflow.lab import timeline

        return await timeline.load_attempts(self.orders, order_id)

    async def history(self, order_id: str) -> pd.DataFrame:
        """The workflow's event history as a table (see :mod:`orderflow.lab.timeline`)."""
        from orderflow.lab import timeline

        return await timeline.load_history(self.client, order_id)

    async def plot(self, order_id: str, **options: Any) -> Figure:
        """The order's retry timeline chart, each attempt ended where the server ended it
        (see :func:`orderflow.lab.timeline.server_view`)."""
        from orderflow.lab import timeline
        from orderflow.teaching import history

        recorded = await history.fetch(self.client, order_workflow_id(order_id))
        attempts = timeline.server_view(await self.attempts(order_id), recorded)
        return timeline.plot_timeline(attempts, title=order_id, **options)

    # --- shutting down ----------------------------------------------------------------

    async def stop(self) -> None:
        """Stop every worker, close the store and stop a dev server this env started."""
        global _current
        for worker in self.extra_workers.values():
            await worker.stop()
        self.extra_workers.clear()
        if self.workers is not None:
            await self.workers.close()
        await self._exits.aclose()
        self.closed = True
        if _current is self:
            _current = None
            _detach_log_file()


_current: NotebookEnv | None = None


def current() -> NotebookEnv | None:
    """The env of this kernel, if :func:`start` ran and it was not stopped."""
    return _current


async def start(
    settings: Settings | None = None,
    *,
    identity: str = DEFAULT_IDENTITY,
    ui: bool = True,
) -> NotebookEnv:
    """Start (or reuse) Temporal, the store and a background worker; return the env.

    ``settings`` default to the environment (``TEMPORAL_ADDRESS``, ``ORDERFLOW_DATA_DIR``, ...).
    Calling it again while the env is running returns the same env (its settings are kept;
    ``await env.stop()`` first to start over with others). When nothing answers at a remote
    address, it raises ``TemporalUnavailableError`` and leaves nothing running.
    """
    global _current
    loop = asyncio.get_running_loop()
    if _current is not None and not _current.closed and _current.loop is loop:
        _current.worker.start()  # no-op when running; revives it after stop_worker()
        return _current
    settings = settings or get_settings()
    if "task_queue" not in settings.model_fields_set:
        settings = settings.model_copy(update={"task_queue": NOTEBOOK_TASK_QUEUE})
    private_dir(settings.data_dir)
    _log_to_file(settings)
    exits = AsyncExitStack()
    try:
        stack = await exits.enter_async_context(
            open_stack(
                settings,
                devserver="auto",
                worker=True,
                ui=ui,
                identity=identity,
                runtime=notebook_runtime(),
                wait=0.0,
            )
        )
    except BaseException:
        # Leave nothing half-started: no server of ours, no log handlers.
        await exits.aclose()
        _detach_log_file()
        raise
    _current = NotebookEnv(stack=stack, identity=identity, loop=loop, _exits=exits)
    return _current


_runtime: Runtime | None = None


def notebook_runtime(metrics: MetricBuffer | None = None) -> Runtime:
    """A Temporal runtime whose core logs are forwarded to Python logging (the log file).

    One shared runtime for the plain clients (a runtime owns threads; make one per kernel);
    a new one for a metric buffer, since the buffer belongs to the runtime that fills it.
    """
    global _runtime
    if metrics is None and _runtime is not None:
        return _runtime
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=metrics,
        )
    )
    if metrics is None:
        _runtime = runtime
    return runtime


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, Mapping):
        return value
    return value.model_dump(mode="json", exclude_none=True)


def _log_to_file(settings: Settings) -> None:
    """Send worker, workflow and SDK core logs to a file in the data dir, not the cells."""
    _detach_log_file()
    path = (settings.data_dir / LOG_FILE).resolve()
    handler = logging.FileHandler(private_file(path))
    handler.setFormatter(logs.formatter("text"))
    handler.addFilter(logs.ExpectedFailureFilter())
    logs.keep_sdk_details_off_messages()
    for name in _LOGGERS:
        named = logging.getLogger(name)
        _saved_levels[name] = named.level
        named.addHandler(handler)
        named.setLevel(logging.INFO)
    _log_handlers.append(handler)


def _detach_log_file() -> None:
    """Undo :func:`_log_to_file` (on stop, or before pointing at another data dir)."""
    while _log_handlers:
        handler = _log_handlers.pop()
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    _saved_levels.clear()


_log_handlers: list[logging.Handler] = []
_saved_levels: dict[str, int] = {}
