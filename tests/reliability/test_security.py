"""Drill 8: security basics. Local by default, faults can be switched off, no secret logged.

Binding is checked twice: in the defaults (what a user gets without configuration) and on
the real processes (every listening socket of the dev server and of a worker's metrics
endpoint, read from ``/proc``), so a flag that is ignored cannot pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from bench.drillkit import audit
from bench.drillkit.procs import WorkerPool
from bench.drillkit.scenarios import Drill, final_statuses, order_request, place
from orderflow import errors
from orderflow.config import Settings
from orderflow.devserver import DevServer, for_settings, free_port
from orderflow.models import OrderState, order_workflow_id
from orderflow.orders import Orders
from orderflow.store import Store
from tests.conftest import eventually, unique
from tests.postgres import PostgresCluster

# --- what is listening where ----------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _decode(address: str, v6: bool) -> str:
    host_hex, port_hex = address.split(":")
    raw = bytes.fromhex(host_hex)
    if v6:  # four little-endian 32-bit words
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        host = str(ipaddress.IPv6Address(raw))
    else:
        host = str(ipaddress.IPv4Address(raw[::-1]))
    return f"{host}:{int(port_hex, 16)}"


def listening_addresses(pid: int) -> set[str]:
    """host:port of every TCP socket in LISTEN state owned by the process ``pid``."""
    inodes = _socket_inodes(pid)
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                found.add(_decode(fields[1], v6))
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return ipaddress.ip_address(host).is_loopback


# --- defaults -----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ORDERFLOW_/TEMPORAL_ variables and no .env: the settings a new user gets."""
    for key in list(os.environ):
        if key.startswith(("ORDERFLOW_", "TEMPORAL_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_env")
def test_defaults_bind_loopback_and_send_no_cors() -> None:
    settings = Settings()

    assert settings.api_host == "127.0.0.1"
    assert settings.address == "127.0.0.1:7233"
    assert settings.is_local_temporal
    assert settings.cors_origins == []
    assert DevServer().host == "127.0.0.1"
    assert for_settings(settings.address, settings.data_dir).host == "127.0.0.1"


@pytest.mark.usefixtures("clean_env")
def test_redacted_settings_hide_the_api_key_and_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "tmprl-key-do-not-log")
    monkeypatch.setenv(
        "ORDERFLOW_DATABASE_URL", "postgresql+asyncpg://shop:pw-do-not-log@db.internal/orders"
    )
    settings = Settings()
    assert settings.temporal_connect_config.get("api_key") == "tmprl-key-do-not-log"

    shown = json.dumps(settings.redacted())

    assert "do-not-log" not in shown
    assert settings.redacted()["temporal_api_key"] == "***"
    assert "shop:***@db.internal" in settings.redacted()["database_url"]


# --- the real processes ---------------------------------------------------------------------


def test_dev_server_listens_on_loopback_only(dev_server: DevServer) -> None:
    assert dev_server.process is not None
    addresses = listening_addresses(dev_server.process.pid)

    assert f"127.0.0.1:{dev_server.port}" in addresses
    assert addresses and all(is_loopback(a) for a in addresses), addresses


async def test_worker_metrics_endpoint_listens_on_loopback_only(
    drill: Drill, workers: WorkerPool
) -> None:
    port = free_port()
    worker = await workers.spawn_ready(
        drill.client, env={"ORDERFLOW_WORKER_METRICS_PORT": str(port)}
    )

    addresses = await eventually(
        lambda: asyncio.to_thread(listening_addresses, worker.pid),
        lambda found: any(a.endswith(f":{port}") for a in found),
        what="the metrics port to listen",
    )

    assert f"127.0.0.1:{port}" in addresses
    assert all(is_loopback(a) for a in addresses), addresses


# --- faults switched off --------------------------------------------------------------------


async def test_worker_with_faults_disabled_ignores_a_fault_plan(drill: Drill) -> None:
    """A plan can still arrive from a client with other settings (or the ``temporal`` CLI):
    a worker running with ORDERFLOW_ALLOW_FAULTS=false must not inject it."""
    worker = await drill.workers.spawn_ready(drill.client, env={"ORDERFLOW_ALLOW_FAULTS": "false"})
    sku = unique("sku")[:32]
    await drill.store.put_product(sku, "Product", Decimal("5.00"), 3)
    order_id = unique("faulty")
    request = order_request(order_id, sku, faults={"charge_payment": {"permanent": True}})
    assert await place(drill, request)  # this client allows faults; the worker does not

    final = (await final_statuses(drill.orders, [order_id], timeout=30))[order_id]

    assert final.state == OrderState.COMPLETED  # a permanent decline would have FAILED it
    assert await audit.payment_kinds(drill.store, [order_workflow_id(order_id)]) == {
        order_workflow_id(order_id): ["charge"]
    }
    assert "fault plan ignored" in worker.log()


async def test_place_refuses_fault_plans_when_disabled(drill: Drill) -> None:
    before = await audit.counts(drill.store)
    order_id = unique("faulty")
    request = order_request(order_id, "ceramic-mug", faults={"notify_customer": {"latency": 1}})

    with pytest.raises(errors.InvalidOrderError, match="fault plans are disabled"):
        await Orders(
            drill.client, drill.store, task_queue=drill.task_queue, allow_faults=False
        ).place(request)

    assert await audit.counts(drill.store) == before
    with pytest.raises(errors.OrderNotFoundError):
        await drill.orders.status(order_id)


# --- no secret in the logs ------------------------------------------------------------------


@pytest.fixture
async def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh database on the session's throwaway cluster, its URL carrying a password.
    The cluster trusts local connections (any password is accepted), so the secret
    travels through the worker's whole start-up without being needed."""
    url = await postgres_cluster.create_database("secret")
    return url.replace("://postgres@", f"://postgres:S3cret-pw-{postgres_cluster.port}@")


@pytest.mark.postgres
async def test_worker_logs_never_contain_the_database_password(
    client, dev_server: DevServer, postgres_url: str, tmp_path: Path
) -> None:
    secret = postgres_url.split(":")[2].split("@")[0]
    store = await Store.open(postgres_url)
    pool = WorkerPool(
        dev_server.address,
        unique("secret"),
        tmp_path / "data",
        tmp_path / "logs",
        env={"ORDERFLOW_DATABASE_URL": postgres_url, "ORDERFLOW_LOG_LEVEL": "DEBUG"},
    )
    try:
        with pool:
            worker = await pool.spawn_ready(client)
            drill = Drill(client=client, store=store, workers=pool)
            order_id = unique("pg")
            await place(drill, order_request(order_id, "ceramic-mug"))
            final = (await final_statuses(drill.orders, [order_id], timeout=30))[order_id]
            assert final.state == OrderState.COMPLETED  # the worker really used the database
        log = worker.log()
    finally:
        await store.close()

    # The log handler wraps long lines: compare with all whitespace removed.
    flat = "".join(log.split())
    assert "postgres:***@127.0.0.1" in flat  # the settings were logged, masked
    assert secret not in flat
