"""Drill 5: hostile input where it enters (request model + start_order, CLI arguments).

Every generated body must be refused with a clear error, and nothing may start or change:
the store's row counts and stock are compared before and after, and Temporal is asked
whether any workflow appeared on the drill's task queue.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bench.drillkit import audit
from orderflow import cli as cli_module
from orderflow import errors
from orderflow.devserver import DevServer
from orderflow.models import OrderRequest, order_workflow_id
from tests.conftest import unique
from tests.reliability.hostile import (
    CATALOG_SKUS,
    LoopEnv,
    hostile_bodies,
    open_loop_env,
    workflow_exists,
)


@pytest.fixture(scope="module")
def env(dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopEnv]:
    yield from open_loop_env(dev_server, tmp_path_factory)


# --- the request model and start_order --------------------------------------------------------


def refuse(env: LoopEnv, body: Any) -> str:
    """Submit ``body`` as a create; return which guard refused it (or fail the test)."""
    try:
        request = OrderRequest.model_validate(body)
    except ValidationError as error:
        assert error.errors(), "a validation error names what is wrong"
        return "validation"
    with pytest.raises(errors.InvalidOrderError) as refused:
        env.run(env.orders.place(request))
    assert "\n" not in str(refused.value)
    if isinstance(request.order_id, str):
        assert not env.run(workflow_exists(env.client, request.workflow_id))
    return "start_order"


def test_hostile_bodies_are_refused_and_start_or_change_nothing(env: LoopEnv) -> None:
    before = env.run(audit.counts(env.store))
    seen: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=hostile_bodies())
    def check(body: Any) -> None:
        seen[refuse(env, body)] += 1

    check()
    # Both guards were exercised, or the generator is not probing what it claims to.
    assert seen["validation"] > 0 and seen["start_order"] > 0, seen
    assert env.run(audit.counts(env.store)) == before
    env.assert_nothing_started()


def test_fault_plans_are_refused_when_faults_are_disabled(env: LoopEnv) -> None:
    """``ORDERFLOW_ALLOW_FAULTS=false``: a well-formed order with a fault plan is refused."""
    before = env.run(audit.counts(env.store))
    spec = st.fixed_dictionaries(
        {},
        optional={
            "fail_first_n": st.integers(0, 20),
            "latency": st.floats(0, 30),
            "permanent": st.booleans(),
        },
    )
    plans = st.fixed_dictionaries(
        {}, optional={"charge_payment": spec, "reserve_inventory": spec, "notify_customer": spec}
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(plan=plans, sku=st.sampled_from(CATALOG_SKUS))
    def check(plan: dict[str, Any], sku: str) -> None:
        body = {
            "order_id": unique("faulty"),
            "customer_id": "cust-1",
            "items": [{"sku": sku, "quantity": 1}],
            "faults": plan,
        }
        assert refuse(env, body) == "start_order"

    check()
    assert env.run(audit.counts(env.store)) == before


# --- the CLI -----------------------------------------------------------------------------------
# Most cases run the CLI in-process through ``orderflow.cli.run`` (the same code ``main``
# runs before it exits): a fresh interpreter costs seconds on a loaded machine. A few real
# ``python -m orderflow.cli`` processes check the process-level behaviour on top.

# What a shell can pass as one argument: no NUL, no lone surrogates, not an option.
ARGUMENT_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: not s.startswith("-"))


def cli_env(env: LoopEnv) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": env.settings.address,
        "ORDERFLOW_DATA_DIR": str(env.settings.data_dir),
        "ORDERFLOW_TASK_QUEUE": env.task_queue,
        "ORDERFLOW_ALLOW_FAULTS": "false",
    }


@pytest.fixture
def cli(
    env: LoopEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``orderflow ARGS`` in-process; returns (exit status, stdout, stderr)."""
    for key in list(os.environ):
        if key.startswith(("ORDERFLOW_", "TEMPORAL_")):
            monkeypatch.delenv(key)
    for key, value in cli_env(env).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(env.settings.data_dir)  # no stray .env

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli_module.run(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def assert_one_line_error(code: int, stdout: str, stderr: str, status: int = 1) -> str:
    assert code == status, (code, stdout, stderr)
    assert "Traceback" not in stderr + stdout
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert stdout == ""
    return lines[0]


MUG = ["--customer", "c1", "--item", "ceramic-mug=1"]
CLI_CASES: dict[str, tuple[list[str], str]] = {
    "bad customer": (
        ["--customer", "'; DROP TABLE payments; --", "--item", "ceramic-mug=1"],
        "customer_id",
    ),
    "long customer": (["--customer", "c" * 5000, "--item", "ceramic-mug=1"], "customer_id"),
    "negative quantity": (["--customer", "c1", "--item", "ceramic-mug=-3"], "quantity"),
    "zero quantity": (["--customer", "c1", "--item", "ceramic-mug=0"], "quantity"),
    "huge quantity": (
        ["--customer", "c1", "--item", "ceramic-mug=99999999999999999999"],
        "quantity",
    ),
    "no equals": (["--customer", "c1", "--item", "ceramic-mug"], "SKU=QUANTITY"),
    "float quantity": (["--customer", "c1", "--item", "ceramic-mug=1.5"], "SKU=QUANTITY"),
    "path traversal sku": (["--customer", "c1", "--item", "../../etc/passwd=1"], "sku"),
    "unknown sku": (["--customer", "c1", "--item", "ghost-sku=1"], "unknown product"),
    "newline in sku": (["--customer", "c1", "--item", "mug\nx=1"], "sku"),
    "duplicate sku": ([*MUG, "--item", "ceramic-mug=2"], "once"),
    "bad order id": ([*MUG, "--order-id", "a/b"], "order_id"),
    "long order id": ([*MUG, "--order-id", "x" * 65], "order_id"),
    "negative delay": ([*MUG, "--step-delay", "-1"], "step_delay"),
    "nan delay": ([*MUG, "--step-delay", "nan"], "step_delay"),
    "delay not a number": ([*MUG, "--step-delay", "soon"], "valid number"),
    "faults not json": ([*MUG, "--faults", "{oops"], "JSON"),
    "faults bad step": ([*MUG, "--faults", '{"x": {}}'], "faults"),
    "faults disabled": (
        [*MUG, "--faults", '{"charge_payment": {"permanent": true}}'],
        "fault plans are disabled",
    ),
    "markup in sku": (["--customer", "c1", "--item", "[bold]x[/]=1", "--name", "[red]hi"], "sku"),
}

USAGE_ERRORS = {"delay not a number"}  # refused by the option parser, before our code


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_order_create_refuses_hostile_arguments_in_one_line(
    env: LoopEnv, cli: Callable[..., tuple[int, str, str]], case: str
) -> None:
    args, expected = CLI_CASES[case]
    before = env.run(audit.counts(env.store))

    status = 2 if case in USAGE_ERRORS else 1  # click's convention for usage errors

    line = assert_one_line_error(*cli("order", "create", *args), status=status)

    assert expected in line
    assert env.run(audit.counts(env.store)) == before


def test_cli_generated_arguments_fail_cleanly(
    env: LoopEnv, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """Random text as customer and item: refused in one line (or, if by chance well-formed,
    refused because the product does not exist), never a traceback, nothing changed."""
    before = env.run(audit.counts(env.store))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(customer=ARGUMENT_TEXT, item=ARGUMENT_TEXT)
    def check(customer: str, item: str) -> None:
        line = assert_one_line_error(
            *cli("order", "create", "--customer", customer, "--item", item)
        )
        assert re.match(r"error: (invalid order|--item must look like|unknown product)", line)

    check()
    assert env.run(audit.counts(env.store)) == before


@pytest.mark.parametrize(
    "order_id", ["ghost-order", "../../etc/passwd", "' OR 1=1 --", "x" * 300, "order-🦆"]
)
def test_cli_status_and_cancel_of_unknown_orders_fail_in_one_line(
    env: LoopEnv, cli: Callable[..., tuple[int, str, str]], order_id: str
) -> None:
    for command in ("status", "cancel"):
        line = assert_one_line_error(*cli("order", command, order_id))
        assert "not found" in line, line
    assert not env.run(workflow_exists(env.client, order_workflow_id(order_id)))


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["--customer", "x y", "--item", "ceramic-mug=1"], 1, "customer_id"),
        (["--customer", "c1", "--item", "ghost-sku=1"], 1, "unknown product"),
        ([*MUG, "--faults", '{"charge_payment": {"latency": 1}}'], 1, "fault plans are disabled"),
        (["--customer", "c1"], 2, "--item"),  # a usage error keeps click's status 2
    ],
)
def test_cli_process_exits_with_one_line(
    env: LoopEnv, args: list[str], status: int, expected: str
) -> None:
    """The real process: exit status, one stderr line, no traceback, nothing started."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ORDERFLOW_", "TEMPORAL_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "orderflow.cli", "order", "create", *args],
        capture_output=True,
        text=True,
        env={**child_env, **cli_env(env)},
        cwd=env.settings.data_dir,
        timeout=60,
        check=False,
    )
    line = assert_one_line_error(result.returncode, result.stdout, result.stderr, status)
    assert expected in line
