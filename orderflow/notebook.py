"""``env = await orderflow.notebook.start()``: the tutorials' one set-up call.

A thin alias of :mod:`orderflow.lab.env`, where the notebook side of the kit lives (with
the widget console, the timeline charts and the exercises' checks in :mod:`orderflow.lab`).
"""

from orderflow.lab.env import NotebookEnv, current, start

__all__ = ["NotebookEnv", "current", "start"]
