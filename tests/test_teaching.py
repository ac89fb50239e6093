"""The teaching material of tutorials 06-07, against the real dev server, store and pytest.

Each exercise check is run against its worked solution (``notebooks/solutions``) and
against wrong answers (``tests/teaching_answers.py``), and must give the right verdict
for both. The workflow variants must behave as the tutorials claim: the unsafe change
fails replay and blocks a running order, the patched one replays old histories and runs
new orders the new way, the broken one keeps the stock after a declined card.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from orderflow.lab import exercises
from orderflow.models import TASK_QUEUE, OrderRequest, OrderState, StepName, StepStatus
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching import deployment, history, sandbox, testkit
from orderflow.teaching.variants import (
    NOTIFY_FIRST_PATCH,
    DeprecatedPatchOrderWorkflow,
    LeakyStockOrderWorkflow,
    NotifyFirstOrderWorkflow,
    PatchedNotifyFirstOrderWorkflow,
)
from orderflow.workflows import OrderWorkflow
from orderflow.workflows.order import ORDER_V2_PATCH, SHIPMENT_PATCH
from tests import teaching_answers
from tests.conftest import eventually, unique

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = sorted((ROOT / "tests" / "histories").glob("**/*.json"))
RESERVE, CHARGE, NOTIFY = (
    StepName.RESERVE_INVENTORY.value,
    StepName.CHARGE_PAYMENT.value,
    StepName.NOTIFY_CUSTOMER.value,
)


def committed_histories() -> list[WorkflowHistory]:
    return [history.load(path) for path in HISTORIES]


def notebook_module(name: str) -> Any:
    """Import a module of ``notebooks/`` by name, as the kernel (cwd ``notebooks/``) does."""
    notebooks = str(ROOT / "notebooks")
    if notebooks not in sys.path:
        sys.path.insert(0, notebooks)
    return importlib.import_module(name)


async def place(client: Client, store: Store, sku: str, task_queue: str, **extra: Any) -> str:
    request = OrderRequest.model_validate(
        {
            "order_id": unique("teach"),
            "customer_id": "learner",
            "items": [{"sku": sku, "quantity": 2}],
            **extra,
        }
    )
    placed = await Orders(client, store, task_queue=task_queue).place(request)
    assert placed.created
    return placed.order_id


# --- replay and versioning -------------------------------------------------------------


async def test_history_helpers_read_the_commands_of_a_recorded_order() -> None:
    happy = history.load(ROOT / "tests" / "histories" / "happy_path.json")
    assert history.activity_sequence(happy) == [RESERVE, CHARGE, NOTIFY]
    commands = history.commands(happy)
    assert commands[:3] == [f"schedule activity {name}" for name in (RESERVE, CHARGE, NOTIFY)]
    assert commands[-1] == "complete workflow"
    assert history.patch_ids(happy) == []


async def test_unsafe_change_fails_replay_and_the_original_does_not() -> None:
    happy = [history.load(ROOT / "tests" / "histories" / "happy_path.json")]

    unsafe = await history.replay(NotifyFirstOrderWorkflow, happy)
    original = await history.replay(OrderWorkflow, happy)

    assert not unsafe[0].ok
    assert unsafe[0].error_type == "NondeterminismError"
    assert "charge_payment" in (unsafe[0].error or "")
    assert original[0].ok


async def test_patched_change_replays_every_committed_history() -> None:
    outcomes = await history.replay(PatchedNotifyFirstOrderWorkflow, committed_histories())
    assert len(outcomes) == len(HISTORIES) >= 10
    assert [str(outcome) for outcome in outcomes if not outcome.ok] == []


async def test_running_order_is_stuck_on_the_unsafe_change_and_finishes_on_the_patch(
    client: Client, store: Store, product: Any, orders
) -> None:
    """The tutorial's live story: v1 starts an order, v2 (unsafe) takes over and fails its
    workflow task, v3 (patched) finishes it the old way and runs new orders the new way."""
    sku = await product(stock=10)
    production = deployment.Deployment(client, store, task_queue=unique("teach-deploy"))
    try:
        await production.roll_out(OrderWorkflow)
        running = await production.place(
            sku, order_id=unique("teach-running"), quantity=2,
            faults={"charge_payment": {"latency": 1}},
        )  # fmt: skip
        await eventually(
            lambda: orders.status(running),
            lambda status: status.step(StepName.CHARGE_PAYMENT).status == StepStatus.RUNNING,
            what="the charge to start on v1",
        )
        await production.roll_out(NotifyFirstOrderWorkflow)  # v1 stops gracefully first
        failures = await history.wait_for_task_failure(client, f"order-{running}")
        assert failures[0].startswith("NON_DETERMINISTIC_ERROR")
        assert "'charge_payment' does not match" in failures[0]
        # Not failed, not lost: still running, waiting for code that can continue it. (No
        # Query here: with no compatible worker there is nobody to answer it.)
        description = await client.get_workflow_handle(f"order-{running}").describe()
        assert description.status == WorkflowExecutionStatus.RUNNING

        await production.roll_out(PatchedNotifyFirstOrderWorkflow)
        fresh = await production.place(sku, order_id=unique("teach-fresh"), quantity=2)
        assert (await orders.wait(fresh)).state == OrderState.COMPLETED
        old_final = await orders.wait(running)  # after the task's retry
    finally:
        await production.stop()
    assert old_final.state == OrderState.COMPLETED
    old_history = await history.fetch(client, f"order-{running}")
    new_history = await history.fetch(client, f"order-{fresh}")
    assert history.activity_sequence(old_history) == [RESERVE, CHARGE, NOTIFY]
    assert history.activity_sequence(new_history) == [RESERVE, NOTIFY, CHARGE]
    assert history.patch_ids(old_history) == [ORDER_V2_PATCH, SHIPMENT_PATCH]
    assert history.patch_ids(new_history) == [ORDER_V2_PATCH, NOTIFY_FIRST_PATCH, SHIPMENT_PATCH]
    assert await store.stock(sku) == 6
    ledger = await store.payment_ledger(f"order-{running}")
    assert [entry.kind for entry in ledger] == ["charge"], "charged once, across 3 versions"
    # The unpatched original cannot replay the new order: the marker is unknown to it.
    assert not (await history.replay(OrderWorkflow, [new_history]))[0].ok
    # The retired patch replays the patched order, and no longer the pre-patch one.
    retired = await history.replay(DeprecatedPatchOrderWorkflow, [new_history, old_history])
    assert [outcome.ok for outcome in retired] == [True, False]


async def test_teaching_variants_may_not_poll_the_service_queue(client: Client, store: Store):
    with pytest.raises(ValueError, match="service's task queue"):
        deployment.teaching_worker(client, store, NotifyFirstOrderWorkflow, task_queue=TASK_QUEUE)


async def test_broken_variant_keeps_the_stock_after_a_declined_card(
    client: Client, store: Store, product: Any, orders
) -> None:
    declined = {"faults": {"charge_payment": {"permanent": True}}}
    results = {}
    for workflow_class in (OrderWorkflow, LeakyStockOrderWorkflow):
        sku = await product(stock=5)
        queue = unique("teach-leak")
        async with deployment.teaching_worker(client, store, workflow_class, task_queue=queue):
            final = await orders.wait(await place(client, store, sku, queue, **declined))
        results[workflow_class.__name__] = (final.state, await store.stock(sku))
    assert results == {
        "OrderWorkflow": (OrderState.FAILED, 5),
        "LeakyStockOrderWorkflow": (OrderState.FAILED, 3),
    }


# --- the sandbox ------------------------------------------------------------------------


async def test_sandbox_blocks_nondeterministic_calls_and_allows_workflow_apis(client: Client):
    report = await sandbox.demonstrate(client)

    verdicts = {row["call"]: row["in a workflow"] for row in report.probes}
    assert verdicts["datetime.datetime.now()"].startswith("blocked")
    assert verdicts["random.random()"].startswith("blocked")
    assert verdicts["open('/etc/hostname')"].startswith("blocked")
    assert verdicts["workflow.now()"] == "allowed"
    assert verdicts["workflow.uuid4()"] == "allowed"
    assert report.violation.startswith("Cannot access datetime.datetime.now")


# --- exercise 06: the cooling-off patch -------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "ok", "expected"),
    [
        ("solution", True, "recorded the patch marker, waited 1 s"),
        ("scaffold", False, "never waited between reserving and charging"),
        (teaching_answers.UnpatchedCoolingOff, False, "recorded orders no longer replay"),
        (teaching_answers.ReplayGuessingCoolingOff, False, "has no patch marker"),
        (teaching_answers.PatchedTooLate, False, "never waited between reserving and charging"),
        (teaching_answers.SleepsOnTheWallClock, False, "Cannot access time.sleep"),
    ],
    ids=["solution", "scaffold", "unpatched", "is-replaying", "timer-after-charge", "time-sleep"],
)
async def test_check_cooling_off_verdicts(
    client: Client, store: Store, answer: Any, ok: bool, expected: str
) -> None:
    if answer == "solution":
        answer = notebook_module("solutions.ex06_cooling_off").CoolingOffOrderWorkflow
    elif answer == "scaffold":
        answer = notebook_module("ex06_cooling_off").CoolingOffOrderWorkflow
    env = SimpleNamespace(client=client, store=store)

    verdict = await exercises.check_cooling_off(env, answer, committed_histories())

    assert verdict.ok is ok, str(verdict)
    assert expected in str(verdict)


async def test_check_cooling_off_needs_histories(client: Client, store: Store) -> None:
    with pytest.raises(ValueError, match="at least one recorded history"):
        await exercises.check_cooling_off(
            SimpleNamespace(client=client, store=store), OrderWorkflow, []
        )


# --- exercise 07: the test that catches the bug ------------------------------------------


@pytest.mark.parametrize(
    ("answer", "ok", "expected"),
    [
        ("solution", True, "It fails on the broken one: AssertionError"),
        (teaching_answers.test_only_checks_the_state, False, "does not catch the bug"),
        (teaching_answers.test_expects_the_stock_to_be_gone, False, "fails on the correct"),
        (teaching_answers.test_asserts_which_class_runs, False, "fails on the correct"),
        (
            teaching_answers.test_asserts_the_version_through_pytest,
            False,
            "fails on a refactored one that behaves exactly the same",
        ),
        (teaching_answers.not_a_test_name, False, "did not run your test"),
        ("not a function", False, "expected a test function"),
    ],
    ids=[
        "solution",
        "state-only",
        "wrong-expectation",
        "class-shortcut",
        "version-via-pytest",
        "not-collected",
        "not-a-function",
    ],
)
async def test_check_declined_card_test_verdicts(answer: Any, ok: bool, expected: str) -> None:
    if answer == "solution":
        answer = notebook_module(
            "solutions.ex07_declined_card_test"
        ).test_declined_card_releases_stock

    verdict = await exercises.check_declined_card_test(answer)

    assert verdict.ok is ok, str(verdict)
    assert expected in str(verdict)


async def test_a_run_that_overstays_is_stopped_with_a_clear_result() -> None:
    run = await testkit.run_tests(teaching_answers.test_sleeps_forever, timeout=5)

    assert run.returncode == -1
    assert run.results == []
    assert "did not finish in 5 s" in str(run)


def test_the_notebook_test_fixtures_never_download_a_server() -> None:
    source = testkit.fixture_source("temporal_env")
    assert "WorkflowEnvironment.start_local(" in source
    assert "dev_server_existing_path=temporal_binary()" in source
    with pytest.raises(KeyError):
        testkit.fixture_source("no_such_fixture")
