"""Worker processes: list them, and Stop, Kill (-9) or Start one (the web console's buttons).

Only ``orderflow up --worker-processes N`` has worker processes to control; an API whose
worker runs in-process (or that runs alone) lists none. Controls act only when the
Temporal server is the local dev server this process started
(:func:`orderflow.ownership.control_refusal`); anywhere else they answer 403 and change
nothing. The POSTs are state-changing requests, so the API's request guards apply to them
(a cross-site or foreign-origin request is refused with 403 before it gets here).

| method path | result |
|---|---|
| GET /api/workers | 200: `supervised`, `controllable`, `reason` (why not), the workers |
| POST /api/workers/{name}/stop | 200 the worker, stopped (SIGTERM, graceful) |
| POST /api/workers/{name}/kill | 200 the worker, killed (SIGKILL) |
| POST /api/workers/{name}/start | 200 the worker, a new process |
| (any POST) | 403 not the kit's own local dev server; 404 no such worker; 409 wrong state |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from orderflow.api.deps import SettingsDep
from orderflow.supervisor import (
    ControlRefusedError,
    UnknownWorkerError,
    WorkerControlError,
    WorkerInfo,
    WorkerStateError,
    WorkerSupervisor,
)

router = APIRouter(prefix="/api/workers", tags=["workers"])

IN_PROCESS = (
    "this server's worker runs inside its own process: there are no worker processes to "
    "control (start it with `orderflow up --worker-processes 1`)"
)
_STATUS: dict[type[WorkerControlError], int] = {
    ControlRefusedError: 403,
    UnknownWorkerError: 404,
    WorkerStateError: 409,
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the local dev server this process started: nothing done"},
    404: {"description": "No worker process of that name"},
    409: {"description": "Start of a running worker, or stop/kill of a stopped one"},
}


class WorkersView(BaseModel):
    """The worker processes and whether this API may control them."""

    supervised: bool
    """False: the worker runs in-process (or elsewhere); nothing to control here."""
    controllable: bool
    reason: str | None = None
    """Why the controls are off, when they are."""
    task_queue: str
    workers: list[WorkerInfo]


def get_supervisor(request: Request) -> WorkerSupervisor | None:
    supervisor: WorkerSupervisor | None = getattr(request.app.state, "workers", None)
    return supervisor


SupervisorDep = Annotated[WorkerSupervisor | None, Depends(get_supervisor)]
WorkerName = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The worker's name, e.g. `worker-1`."),
]


@router.get("")
async def list_workers(supervisor: SupervisorDep, settings: SettingsDep) -> WorkersView:
    """The worker processes with their state (``running`` once Temporal sees them poll)."""
    if supervisor is None:
        return WorkersView(
            supervised=False,
            controllable=False,
            reason=IN_PROCESS,
            task_queue=settings.task_queue,
            workers=[],
        )
    reason = supervisor.refusal()
    return WorkersView(
        supervised=True,
        controllable=reason is None,
        reason=reason,
        task_queue=supervisor.task_queue,
        workers=await supervisor.workers(),
    )


@router.post("/{name}/stop", responses=_ERRORS)
async def stop_worker(name: WorkerName, supervisor: SupervisorDep) -> WorkerInfo:
    """Stop the worker gracefully (SIGTERM): it finishes or hands back what it runs."""
    return await _act(supervisor, lambda s: s.stop(name))


@router.post("/{name}/kill", responses=_ERRORS)
async def kill_worker(name: WorkerName, supervisor: SupervisorDep) -> WorkerInfo:
    """Kill the worker (SIGKILL, ``kill -9``): what it was running is lost and retried."""
    return await _act(supervisor, lambda s: s.kill(name))


@router.post("/{name}/start", responses=_ERRORS)
async def start_worker(name: WorkerName, supervisor: SupervisorDep) -> WorkerInfo:
    """Start the worker again, as a new process."""
    return await _act(supervisor, lambda s: s.start(name))


async def _act(
    supervisor: WorkerSupervisor | None,
    action: Callable[[WorkerSupervisor], Awaitable[WorkerInfo]],
) -> WorkerInfo:
    if supervisor is None:
        raise HTTPException(404, IN_PROCESS)
    try:
        return await action(supervisor)
    except WorkerControlError as error:
        raise HTTPException(_STATUS.get(type(error), 400), str(error)) from None
