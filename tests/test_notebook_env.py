"""``orderflow.notebook``: idempotent start, clean stop, and no server outliving its kernel."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bench.drillkit import audit
from orderflow import notebook
from orderflow.config import Settings
from orderflow.devserver import DevServer, free_port, is_listening
from orderflow.lab import env as lab_env
from orderflow.models import OrderState
from tests.conftest import unique


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def _wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


async def test_start_twice_is_one_env_and_stop_leaves_no_process(tmp_path):
    port = free_port()
    settings = Settings(
        temporal_address=f"127.0.0.1:{port}", data_dir=tmp_path, task_queue=unique("nb-env")
    )

    env = await notebook.start(settings, ui=False)
    try:
        again = await notebook.start(settings, ui=False)
        assert again is env and notebook.current() is env
        assert env.owns_server and env.server is not None and env.worker.running
        assert env.ui_url is None and env.workflow_url("any") is None  # started without UI
        pid = env.server.process.pid if env.server.process else -1

        await env.restock("nb-env-mug", 3)
        order_id = await env.place_order("nb-env-mug", order_id=await env.new_order_id("nb-first"))
        assert order_id == "nb-first"
        assert (await env.wait(order_id)).state == OrderState.COMPLETED
        assert await env.new_order_id("nb-first") == "nb-first-2"  # taken ids are not reused
        assert (tmp_path / "temporal.db").exists()  # file-backed, in the data dir
    finally:
        await env.stop()

    assert not env.worker.running and notebook.current() is None
    assert not _pid_alive(pid)
    assert not is_listening("127.0.0.1", port)
    fresh = await notebook.start(settings, ui=False)  # after a stop, start builds a new env
    try:
        assert fresh is not env and fresh.worker.running
    finally:
        await fresh.stop()
    assert not is_listening("127.0.0.1", port)


async def test_reuses_a_running_server_and_leaves_it_alone(dev_server: DevServer, data_dir):
    settings = Settings(
        temporal_address=dev_server.address, data_dir=data_dir, task_queue=unique("nb-reuse")
    )
    env = await notebook.start(settings, ui=False)
    try:
        assert not env.owns_server
        # A reused local server is taken to serve its UI on ORDERFLOW_UI_PORT (links.py).
        assert env.ui_url == f"http://127.0.0.1:{settings.ui_port}"
        assert "already running" in repr(env)
        await env.restock("nb-reuse-mug", 2)
        order_id = await env.place_order("nb-reuse-mug", step_delay=0.3)
        assert env.workflow_url(order_id) == (
            f"http://127.0.0.1:{settings.ui_port}/namespaces/default/workflows/order-{order_id}"
        )
        await env.wait_for_step(order_id, "reserve_inventory")
        await env.stop_worker()
        assert not env.worker.running
        await env.start_worker()
        assert (await env.wait(order_id)).state == OrderState.COMPLETED
    finally:
        await env.stop()
    assert is_listening(dev_server.host, dev_server.port)


def test_a_server_started_in_a_kernel_dies_when_the_kernel_is_killed(tmp_path):
    """What nbval and Jupyter do to kernels: SIGKILL, so no Python cleanup runs."""
    from jupyter_client.manager import start_new_kernel

    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        "ORDERFLOW_TASK_QUEUE": "nb-kernel",
    }
    manager, kernel = start_new_kernel(
        kernel_name="python3", env=env, cwd=str(tmp_path), startup_timeout=120
    )
    try:
        outputs: list[str] = []

        def run(code: str) -> None:
            reply = kernel.execute_interactive(
                code,
                timeout=120,
                output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
            )
            assert reply["content"]["status"] == "ok", reply["content"]

        run(
            "import orderflow.notebook\n"
            "env = await orderflow.notebook.start(ui=False)\n"
            "same = await orderflow.notebook.start(ui=False)\n"
            "print('pid', env.server.process.pid, 'same', same is env)"
        )
        words = "".join(outputs).split()
        server_pid = int(words[words.index("pid") + 1])
        assert words[words.index("same") + 1] == "True"
        assert _pid_alive(server_pid) and is_listening("127.0.0.1", port)

        kernel_pid = manager.provisioner.process.pid  # type: ignore[union-attr]
        os.kill(kernel_pid, signal.SIGKILL)

        assert _wait_until(lambda: not _pid_alive(server_pid)), "dev server outlived its kernel"
        assert _wait_until(lambda: not is_listening("127.0.0.1", port))
    finally:
        kernel.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


@pytest.mark.parametrize("bad", [{"quantity": 0}, {"customer_id": "no spaces"}])
async def test_place_order_refuses_bad_input_and_starts_nothing(dev_server, data_dir, store, bad):
    settings = Settings(
        temporal_address=dev_server.address, data_dir=data_dir, task_queue=unique("nb-bad")
    )
    env = await notebook.start(settings, ui=False)
    try:
        counts = await audit.counts(store)
        with pytest.raises(ValueError):
            await env.place_order("espresso-beans", **{"quantity": 1, **bad})
        assert await audit.counts(store) == counts
    finally:
        await env.stop()


async def test_unreachable_temporal_is_a_clear_error_and_leaves_nothing(tmp_path):
    import logging

    from orderflow.errors import TemporalUnavailableError

    handlers_before = list(logging.getLogger("temporalio").handlers)
    # 127.0.0.2 is not "local" to the settings (no dev server is started for it) and
    # nothing listens there: the connection is refused at once.
    settings = Settings(temporal_address="127.0.0.2:1", data_dir=tmp_path)

    with pytest.raises(TemporalUnavailableError, match=r"cannot reach Temporal at 127\.0\.0\.2:1"):
        await notebook.start(settings, ui=False)

    assert notebook.current() is None
    assert logging.getLogger("temporalio").handlers == handlers_before


async def test_notebooks_use_their_own_task_queue_unless_configured(dev_server, data_dir, orders):
    """A `make run` worker on the same server polls `orderflow` with another store: it
    must not take the notebook's orders."""
    defaults = Settings(temporal_address=dev_server.address, data_dir=data_dir)
    env = await notebook.start(defaults, ui=False)
    try:
        assert env.task_queue == lab_env.NOTEBOOK_TASK_QUEUE == "orderflow-notebook"
        await env.restock("nb-queue-mug", 1)
        order_id = await env.place_order("nb-queue-mug")
        assert (await env.wait(order_id)).state == OrderState.COMPLETED
        attempts = await env.attempts(order_id)
        assert set(attempts.worker) == {lab_env.DEFAULT_IDENTITY}
    finally:
        await env.stop()
    explicit = Settings(temporal_address=dev_server.address, data_dir=data_dir, task_queue="q1")
    env = await notebook.start(explicit, ui=False)
    try:
        assert env.task_queue == "q1"
    finally:
        await env.stop()
