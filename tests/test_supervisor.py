"""Supervised worker processes (Stop, Kill -9, Start) and the check that keeps the controls
to the local dev server the kit started, against real processes and the real dev server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from orderflow.config import Settings
from orderflow.devserver import DevServer
from orderflow.models import OrderRequest, PaymentKind, order_workflow_id
from orderflow.orders import Orders
from orderflow.ownership import control_refusal, is_loopback, listener_is
from orderflow.supervisor import (
    ControlRefusedError,
    UnknownWorkerError,
    WorkerState,
    WorkerStateError,
    WorkerSupervisor,
)
from tests.conftest import eventually, unique


async def lazy_client(address: str, **options: object) -> Client:
    return await Client.connect(
        address, lazy=True, data_converter=pydantic_data_converter, **options
    )


# --- the ownership check ----------------------------------------------------------------


async def test_the_kit_s_own_dev_server_passes(dev_server, client):
    assert control_refusal(dev_server, client) is None
    assert dev_server.process is not None
    assert listener_is(dev_server.process.pid, dev_server.port)


async def test_a_server_not_started_here_is_refused(client):
    reason = control_refusal(None, client)
    assert reason is not None and "not started by this process" in reason


@pytest.mark.parametrize(
    "target",
    [
        "10.1.2.3:{port}",  # a remote host on the same port
        "temporal.example.com:{port}",
        "127.0.0.1.nip.io:{port}",  # a name that resolves to loopback today
        "127.0.0.1:{other}",  # this machine, another port
        "localhost:{port}",  # a name, not the address the server was started on
    ],
)
async def test_a_client_talking_elsewhere_is_refused(dev_server, target):
    address = target.format(port=dev_server.port, other=dev_server.port + 1)
    reason = control_refusal(dev_server, await lazy_client(address))
    assert reason is not None and "worker controls are off" in reason


async def test_tls_or_an_api_key_is_refused(dev_server):
    for options in ({"tls": True}, {"api_key": "secret"}):
        client = await lazy_client(dev_server.address, **options)
        reason = control_refusal(dev_server, client)
        assert reason is not None and "TLS or an API key" in reason
        assert "secret" not in reason


async def test_a_port_held_by_another_process_is_refused(dev_server, client):
    """Our record of a server is not enough: the listener must be that very process."""
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: ASYNC220
    try:
        pretend = DevServer(host=dev_server.host, port=dev_server.port, process=impostor)
        reason = control_refusal(pretend, client)
    finally:
        impostor.kill()
        impostor.wait()
    assert reason is not None and f"Port {dev_server.port} is not held" in reason


async def test_an_exited_server_is_refused(dev_server, client):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: ASYNC220
    gone.wait()
    reason = control_refusal(DevServer(port=dev_server.port, process=gone), client)
    assert reason is not None and "has exited" in reason


def test_loopback_means_a_loopback_literal():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    for host in ("10.0.0.1", "0.0.0.0", "example.com", "127.0.0.1.nip.io", "localhost.evil.com"):
        assert not is_loopback(host), host


# --- worker processes ---------------------------------------------------------------------


@pytest.fixture
def queue_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"task_queue": unique("supervised")})


@pytest.fixture
async def supervised(client, dev_server, queue_settings) -> AsyncIterator[WorkerSupervisor]:
    supervisor = WorkerSupervisor(client, queue_settings, server=dev_server, count=1)
    await supervisor.start_all()
    yield supervisor
    await supervisor.close()


async def test_kill_mid_order_then_start_completes_the_order_with_one_charge(
    supervised, client, store, queue_settings, product, order_id
):
    await supervised.wait_running()
    door = Orders.from_settings(client, store, queue_settings)
    sku = await product(stock=3, price="7.00")
    request = {"order_id": order_id, "customer_id": "ops", "items": [{"sku": sku, "quantity": 1}]}
    # The charge takes 3 s (heartbeating): long enough to kill the worker inside it.
    request["faults"] = {"charge_payment": {"latency": 3.0}}
    await door.place(OrderRequest.model_validate(request))
    workflow_id = order_workflow_id(order_id)
    await eventually(
        lambda: store.attempts(workflow_id),
        lambda attempts: any(a.step == "charge_payment" for a in attempts),
        what="the charge to start",
    )
    first_process = supervised.process("worker-1")

    killed = await supervised.kill("worker-1")
    assert killed.state == WorkerState.KILLED and killed.exit_code == -9
    assert first_process is not None and first_process.returncode == -9
    with pytest.raises(WorkerStateError):
        await supervised.stop("worker-1")

    started = await supervised.start("worker-1")
    assert started.starts == 2 and started.identity == "worker-1.2"
    final = await door.wait(order_id, timeout=60)

    assert final.state == "COMPLETED"
    ledger = await store.payment_ledger(workflow_id)
    assert [(e.kind, e.amount) for e in ledger] == [(PaymentKind.CHARGE, Decimal("7.00"))]
    workers = {a.worker for a in await store.attempts(workflow_id) if a.step == "charge_payment"}
    assert workers == {"worker-1.1", "worker-1.2"}  # the lost attempt, and the one that ran
    await supervised.wait_running()
    (info,) = await supervised.workers()
    assert info.state == WorkerState.RUNNING


async def test_stop_is_graceful_and_start_refuses_a_running_worker(supervised):
    await supervised.wait_running()  # a worker still importing has no SIGTERM handler yet
    with pytest.raises(WorkerStateError):
        await supervised.start("worker-1")
    stopped = await supervised.stop("worker-1")
    assert stopped.state == WorkerState.STOPPED and stopped.exit_code == 0
    with pytest.raises(UnknownWorkerError):
        await supervised.kill("worker-9")


async def test_controls_refuse_on_a_server_the_kit_did_not_start(client, queue_settings):
    supervisor = WorkerSupervisor(client, queue_settings, server=None, count=1)
    await supervisor.start_all()  # its own housekeeping still runs the worker
    try:
        for action in (supervisor.kill, supervisor.stop, supervisor.start):
            with pytest.raises(ControlRefusedError):
                await action("worker-1")
        process = supervisor.process("worker-1")
        assert process is not None and process.poll() is None  # untouched
        await supervisor.wait_running()
    finally:
        await supervisor.close()
    assert process.returncode == 0
