"""/api/workers over real HTTP: listing, Stop/Kill/Start of real worker processes, and the
refusals (not the kit's own dev server; cross-site; wrong state; unknown worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from orderflow.api import create_app
from orderflow.supervisor import WorkerSupervisor
from tests.apiserver import serve
from tests.conftest import unique


async def test_an_in_process_worker_lists_no_processes(http):
    response = await http.get("/api/workers")
    assert response.status_code == 200
    body = response.json()
    assert body["supervised"] is False and body["controllable"] is False
    assert body["workers"] == [] and "--worker-processes" in body["reason"]

    refused = await http.post("/api/workers/worker-1/kill")
    assert refused.status_code == 404
    assert "no worker processes to control" in refused.json()["detail"]


async def test_a_bad_worker_name_is_refused(http):
    response = await http.post("/api/workers/worker;rm/kill")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")


@pytest.fixture
async def app_with_workers(
    request, settings, orders, client, dev_server
) -> AsyncIterator[tuple[str, WorkerSupervisor]]:
    """An API whose worker runs as a child process; ``own`` server or one it did not start."""
    queue = settings.model_copy(update={"task_queue": unique("api-workers")})
    server = dev_server if request.param == "own" else None
    supervisor = WorkerSupervisor(client, queue, server=server, count=1)
    await supervisor.start_all()
    try:
        await supervisor.wait_running()
        async with serve(create_app(queue, orders=orders, workers=supervisor)) as url:
            yield url, supervisor
    finally:
        await supervisor.close()


@pytest.mark.parametrize("app_with_workers", ["own"], indirect=True)
async def test_stop_kill_start_on_the_kit_s_own_server(app_with_workers):
    url, supervisor = app_with_workers
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        listed = (await http.get("/api/workers")).json()
        assert listed["supervised"] and listed["controllable"] and listed["reason"] is None
        (worker,) = listed["workers"]
        assert worker["name"] == "worker-1" and worker["state"] == "running"

        # A page on another site cannot press the button (the API's request guard).
        cross = await http.post("/api/workers/worker-1/kill", headers={"Origin": "http://evil"})
        assert cross.status_code == 403
        assert supervisor.process("worker-1").poll() is None  # type: ignore[union-attr]

        killed = await http.post("/api/workers/worker-1/kill")
        assert killed.status_code == 200 and killed.json()["state"] == "killed"
        again = await http.post("/api/workers/worker-1/stop")
        assert again.status_code == 409 and "not running" in again.json()["detail"]
        started = await http.post("/api/workers/worker-1/start")
        assert started.status_code == 200 and started.json()["identity"] == "worker-1.2"
        twice = await http.post("/api/workers/worker-1/start")
        assert twice.status_code == 409
        unknown = await http.post("/api/workers/worker-7/stop")
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no worker named 'worker-7'"


@pytest.mark.parametrize("app_with_workers", ["reused"], indirect=True)
async def test_controls_refuse_when_the_server_was_not_started_here(app_with_workers):
    url, supervisor = app_with_workers
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        listed = (await http.get("/api/workers")).json()
        assert listed["supervised"] and not listed["controllable"]
        assert "not started by this process" in listed["reason"]
        for action in ("kill", "stop", "start"):
            response = await http.post(f"/api/workers/worker-1/{action}")
            assert response.status_code == 403, action
            assert "not started by this process" in response.json()["detail"]
    process = supervisor.process("worker-1")
    assert process is not None and process.poll() is None  # nothing was done


async def test_orderflow_up_on_a_server_it_reused_keeps_the_buttons_off(
    dev_server, tmp_path_factory
):
    """`orderflow up --worker-processes 1` against a dev server someone else started: its
    worker runs, the controls refuse and say why."""
    from tests.upprocess import orderflow_up

    data_dir = tmp_path_factory.mktemp("up-reused")
    async with (
        orderflow_up(
            data_dir, temporal_port=dev_server.port, args=("--worker-processes", "1")
        ) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        listed = (await http.get("/api/workers")).json()
        assert listed["supervised"] and not listed["controllable"]
        assert "not started by this process" in listed["reason"]
        assert listed["workers"][0]["state"] in ("starting", "running")
        refused = await http.post("/api/workers/worker-1/kill")
        assert refused.status_code == 403
        assert (await http.get("/api/workers")).json()["workers"][0]["state"] in (
            "starting",
            "running",
        )
    assert "worker controls      off: Temporal at" in (data_dir / "up.log").read_text()
