"""The widget console's worker controls: Stop, Kill (-9) and Start for the notebook's worker
processes (:class:`orderflow.supervisor.WorkerSupervisor`), as the web console has them.

The panel only shows and asks: every action goes through the supervisor, which refuses
unless the server is the local dev server the notebook itself started. Handlers are
synchronous (widget callbacks), so each schedules its coroutine on the kernel loop through
the console's scheduler, which shows a refusal as a message instead of a traceback.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine
from typing import Any

import ipywidgets as widgets

from orderflow.supervisor import WorkerInfo, WorkerState, WorkerSupervisor

ACTIONS: dict[str, tuple[str, str, str]] = {
    "stop": ("Stop", "", "graceful: running activities get the worker's grace period"),
    "kill": ("Kill (-9)", "danger", "SIGKILL: the process vanishes mid-work, like a crash"),
    "start": ("Start", "success", "a new worker process"),
}
ALIVE = (WorkerState.RUNNING, WorkerState.STARTING)

Scheduler = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class WorkerPanel:
    """One row per worker process: name, state, pid and identity, and the three buttons."""

    def __init__(
        self,
        supervisor: WorkerSupervisor,
        *,
        schedule: Scheduler,
        on_done: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.supervisor = supervisor
        self.schedule = schedule
        self.on_done = on_done
        self.note = widgets.HTML("")
        self.states: dict[str, widgets.HTML] = {}
        self.buttons: dict[tuple[str, str], widgets.Button] = {}
        rows = []
        for name in supervisor.names:
            self.states[name] = widgets.HTML("")
            buttons = []
            for action, (label, style, tip) in ACTIONS.items():
                button = widgets.Button(
                    description=label, button_style=style, tooltip=tip, disabled=True
                )
                button.on_click(lambda _b, n=name, a=action: self.schedule(self.act(n, a)))
                self.buttons[(name, action)] = button
                buttons.append(button)
            rows.append(widgets.HBox([self.states[name], *buttons]))
        self.widget = widgets.VBox([widgets.HTML("<b>Workers</b>"), self.note, *rows])
        self.infos: dict[str, WorkerInfo] = {}

    async def refresh(self) -> None:
        """Re-read the workers and whether the controls may act; enable what applies."""
        reason = self.supervisor.refusal()
        self.note.value = (
            f'<span style="color:#b26b00">{html.escape(reason)}</span>'
            if reason
            else f"Task queue <code>{html.escape(self.supervisor.task_queue)}</code>."
        )
        for info in await self.supervisor.workers():
            self.infos[info.name] = info
            meta = f"pid {info.pid}, identity {info.identity}" if info.pid else "not started"
            self.states[info.name].value = (
                f"<code>{html.escape(info.name)}</code> <b>{info.state.value}</b> "
                f'<span style="color:#667085">{html.escape(meta)}</span>'
            )
            alive = info.state in ALIVE
            for action in ACTIONS:
                allowed = alive if action != "start" else not alive
                self.buttons[(info.name, action)].disabled = reason is not None or not allowed

    async def act(self, name: str, action: str) -> WorkerInfo:
        """Stop, kill or start ``name`` (refused with a sentence where it may not act)."""
        for key in ACTIONS:
            self.buttons[(name, key)].disabled = True
        try:
            info: WorkerInfo = await getattr(self.supervisor, action)(name)
        finally:
            await self.refresh()
        self.on_done(f"{info.name}: {info.state.value}.")
        return info
