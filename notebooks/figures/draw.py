"""Draw the tutorials' diagrams: ``python notebooks/figures/draw.py`` rewrites the PNGs here.

- ``workers-and-task-queues.png`` (tutorial 01): who talks to whom. The client only talks
  to the Temporal server; the server keeps each workflow's history and puts *workflow
  tasks* and *activity tasks* on a task queue; a worker polls the queue, runs workflow code
  for a workflow task (answering with commands) and an activity for an activity task
  (answering with its result).
- ``query-signal-update.png`` (tutorial 03): what a Query, a Signal and an Update each do,
  step by step, and what each leaves in the history.

Drawn with matplotlib only (no graph tools to install), without a timestamp in the file,
so a re-run changes the PNGs only when this script changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
INK = "#263238"
CLIENT = "#e3f2fd"
SERVER = "#fff8e1"
WORKER = "#e8f5e9"
WORKFLOW_TASK = "#1565c0"
ACTIVITY_TASK = "#2e7d32"
HISTORY = "#6d4c41"


def box(ax: Axes, x: float, y: float, w: float, h: float, color: str, title: str,
        body: str = "", size: int = 10) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                                facecolor=color, edgecolor=INK, linewidth=1.2))
    ax.text(x + w / 2, y + h - 0.28, title, ha="center", va="top", fontsize=size + 1,
            fontweight="bold", color=INK)
    if body:
        ax.text(x + w / 2, y + h - 0.75, body, ha="center", va="top", fontsize=size - 1,
                color=INK, linespacing=1.4)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str,
          label: str = "", offset: tuple[float, float] = (0, 0.15), style: str = "-|>",
          dashed: bool = False, size: int = 9, rad: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14,
                                 color=color, linewidth=1.6,
                                 linestyle="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}"))
    if label:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, label, ha="center", va="bottom", fontsize=size, color=color)


def workers_and_task_queues(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12, 5.6), dpi=110)
    ax.set_xlim(0, 24)
    ax.set_ylim(0, 11.2)
    ax.axis("off")

    box(ax, 0.3, 3.4, 5.0, 4.4, CLIENT, "Client",
        "your code: a notebook,\nthe HTTP API, the CLI\n\nstart_workflow\nquery / signal / update\nresult, history")
    box(ax, 7.6, 0.6, 7.4, 10.0, SERVER, "Temporal server")
    box(ax, 8.0, 6.2, 6.6, 3.6, "#ffffff", "event history, per workflow",
        "1 WorkflowExecutionStarted\n2 WorkflowTaskScheduled ...\n5 ActivityTaskScheduled ...\n"
        "the durable record of what happened", size=9)
    box(ax, 8.0, 1.1, 6.6, 4.4, "#ffffff", "task queue  \"orderflow\"", size=9)
    ax.text(11.3, 4.2, "workflow task: \"run the workflow code,\nsomething new happened\"",
            ha="center", va="center", fontsize=8.5, color=WORKFLOW_TASK)
    ax.text(11.3, 2.2, "activity task: \"run this activity\nwith this input\"",
            ha="center", va="center", fontsize=8.5, color=ACTIVITY_TASK)
    box(ax, 19.0, 1.1, 4.8, 9.5, WORKER, "Worker",
        "polls the task queue;\nthe only place your\nworkflow and activity\ncode runs\n\n"
        "any number of them,\nin any process")

    arrow(ax, (5.3, 6.6), (7.6, 6.6), INK, "start, query,\nsignal, update")
    arrow(ax, (7.6, 4.6), (5.3, 4.6), INK, "ids, answers,\nresults", offset=(0, -0.95))

    arrow(ax, (14.6, 4.2), (19.0, 4.2), WORKFLOW_TASK, "workflow task")
    arrow(ax, (19.0, 7.2), (14.6, 7.2), WORKFLOW_TASK,
          "commands: schedule activity,\nstart timer, complete...")
    arrow(ax, (14.6, 2.2), (19.0, 2.2), ACTIVITY_TASK, "activity task")
    arrow(ax, (19.0, 9.0), (14.6, 9.0), ACTIVITY_TASK, "activity result")
    ax.text(21.4, 4.3, "runs the workflow code\nuntil it must wait,\nanswers with commands",
            ha="center", va="center", fontsize=8.5, color=WORKFLOW_TASK)
    ax.text(21.4, 2.2, "runs the activity,\nanswers with its result",
            ha="center", va="center", fontsize=8.5, color=ACTIVITY_TASK)
    ax.text(11.3, 0.15, "the server never runs your code: it records, schedules and times out",
            ha="center", fontsize=9, style="italic", color=HISTORY)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def query_signal_update(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12.5, 8.6), dpi=110)
    ax.set_xlim(0, 25)
    ax.set_ylim(0, 17.6)
    ax.axis("off")
    lanes = {"client": 6.6, "server": 13.6, "worker": 20.6}
    titles = {"client": ("Client", CLIENT), "server": ("Temporal server (history)", SERVER),
              "worker": ("Worker: your workflow", WORKER)}
    for name, x in lanes.items():
        title, color = titles[name]
        box(ax, x - 2.6, 16.2, 5.2, 1.1, color, title, size=10)
        ax.plot([x, x], [0.3, 16.2], color="#90a4ae", linewidth=1, linestyle=":")

    def step(y: float, a: str, b: str, label: str, color: str = INK,
             dashed: bool = False) -> None:
        arrow(ax, (lanes[a], y), (lanes[b], y), color, label, offset=(0, 0.05), dashed=dashed,
              size=8.5)

    def section(y: float, title: str, note: str) -> None:
        ax.text(0.2, y, title, fontsize=12, fontweight="bold", color=INK, va="top")
        ax.text(0.2, y - 0.7, note, fontsize=8.5, color=HISTORY, va="top", style="italic",
                linespacing=1.4)

    def history(y: float, text: str) -> None:
        ax.text(lanes["server"], y, text, ha="center", va="center", fontsize=8.5,
                color=HISTORY, bbox={"boxstyle": "round", "facecolor": "#ffffff",
                                     "edgecolor": HISTORY, "linewidth": 0.8})

    section(15.0, "Query", "reads state;\nnothing is recorded")
    step(14.7, "client", "server", "query items")
    step(14.1, "server", "worker", "query")
    ax.text(lanes["worker"] + 0.2, 13.75, "handler reads state\n(changes nothing)", fontsize=8,
            va="center")
    step(13.3, "worker", "server", "answer", dashed=True)
    step(12.8, "server", "client", "{'mug': 2}", dashed=True)

    section(11.4, "Signal", "recorded, then\ndelivered; the sender\ngets no answer")
    step(11.1, "client", "server", "signal add_item(mug)")
    history(10.45, "WorkflowExecutionSignaled")
    step(9.8, "server", "client", "ok: recorded (no result)", dashed=True)
    step(9.2, "server", "worker", "workflow task with the Signal", WORKFLOW_TASK)
    ax.text(lanes["worker"] + 0.2, 8.75, "handler changes state", fontsize=8, va="center")

    section(7.6, "Update", "validated, recorded,\nhandled; the caller\nwaits for the answer")
    step(7.3, "client", "server", "update checkout")
    step(6.7, "server", "worker", "workflow task with the Update", WORKFLOW_TASK)
    ax.text(lanes["worker"] + 0.2, 6.25, "validator: may it run?", fontsize=8, va="center")
    ax.text(lanes["worker"] - 0.3, 5.55, "no (raises)", fontsize=8, va="center", ha="right",
            color="#c62828")
    step(5.2, "worker", "server", "refused: 'the cart is empty'", "#c62828", dashed=True)
    step(4.75, "server", "client", "error: 'the cart is empty'", "#c62828", dashed=True)
    ax.text(lanes["server"] + 0.2, 4.95, "nothing recorded", fontsize=8, va="center",
            color="#c62828", style="italic")
    ax.text(lanes["worker"] - 0.3, 4.3, "yes", fontsize=8, va="center", ha="right",
            color=ACTIVITY_TASK)
    step(3.95, "worker", "server", "accepted", ACTIVITY_TASK)
    history(3.35, "WorkflowExecutionUpdateAccepted")
    ax.text(lanes["worker"] + 0.2, 3.35, "handler runs\n(may wait, call activities)",
            fontsize=8, va="center")
    step(2.6, "worker", "server", "handler's result", ACTIVITY_TASK)
    history(1.95, "WorkflowExecutionUpdateCompleted")
    step(1.3, "server", "client", "answer: 3", dashed=True)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


FIGURES = {
    "workers-and-task-queues.png": workers_and_task_queues,
    "query-signal-update.png": query_signal_update,
}


def main(directory: Path = HERE) -> list[Path]:
    written = []
    for name, draw in FIGURES.items():
        path = directory / name
        draw(path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
