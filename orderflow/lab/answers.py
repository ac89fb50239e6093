"""The learner's exercise modules (``notebooks/exNN_*.py``): load them fresh, read their
shape, and let a tutorial's cells run the worked solution until the learner's is complete.

Workflow code must live in a module (the sandbox re-imports it), so tutorials 01 and 03
have the learner write a workflow in a file next to the notebook. Their cells then run
*that* workflow - once it is complete. Until then they run the worked solution from
``notebooks/solutions/`` and say so, so a learner can read on first and a notebook runs
top to bottom from a fresh clone; the exercise's ``check()`` always judges the learner's
own module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from temporalio import activity, workflow

SOLUTIONS_PACKAGE = "solutions"
"""``notebooks/solutions``, importable from the notebooks' directory (the kernel's cwd)."""


def load(name: str) -> ModuleType:
    """Import ``name`` from the notebook's directory, re-reading the file if it was
    imported before (so a saved edit is picked up without restarting the kernel)."""
    module = sys.modules.get(name)
    if module is not None:
        return importlib.reload(module)
    return importlib.import_module(name)


def load_solution(name: str) -> ModuleType:
    return load(f"{SOLUTIONS_PACKAGE}.{name}")


@dataclass(frozen=True)
class WorkflowShape:
    """What a class declares to Temporal: is it a workflow, and its message handlers."""

    is_workflow: bool
    queries: frozenset[str] = frozenset()
    signals: frozenset[str] = frozenset()
    updates: frozenset[str] = frozenset()
    validated_updates: frozenset[str] = frozenset()
    error: str | None = None
    """Why the SDK refused the definition (e.g. a handler with a wrong signature)."""


def workflow_shape(cls: Any) -> WorkflowShape:
    """Read a class's workflow definition the way a worker does (never raises)."""
    if not isinstance(cls, type):
        return WorkflowShape(False, error=f"{cls!r} is not a class")
    try:
        definition = workflow._Definition.from_class(cls)
    except Exception as error:  # the SDK validates handlers while it builds the definition
        return WorkflowShape(False, error=str(error))
    if definition is None:
        return WorkflowShape(False)
    return WorkflowShape(
        True,
        queries=frozenset(name for name in definition.queries if name),
        signals=frozenset(name for name in definition.signals if name),
        updates=frozenset(name for name in definition.updates if name),
        validated_updates=frozenset(
            name for name, update in definition.updates.items() if name and update.validator
        ),
    )


def is_activity(fn: Any) -> bool:
    """True if ``fn`` is decorated with ``@activity.defn``."""
    try:
        return callable(fn) and activity._Definition.from_callable(fn) is not None
    except Exception:
        return False


@dataclass
class Chosen:
    """The module a tutorial's cells run, and a sentence saying whose it is."""

    module: ModuleType
    yours: bool
    note: str
    gaps: list[str] = field(default_factory=list)


def yours_or_solution(name: str, gaps: Callable[[ModuleType], list[str]]) -> Chosen:
    """The learner's module ``name`` if ``gaps(module)`` finds nothing missing, else the
    worked solution of the same name, with a note that says which and why."""
    try:
        module = load(name)
    except Exception as error:  # a syntax error, a bad import: say so, run the solution
        missing = [f"it does not import: {type(error).__name__}: {error}"]
    else:
        missing = gaps(module)
        if not missing:
            return Chosen(module, True, f"Running your {name}.py.")
    note = (
        f"Your {name}.py is not complete yet ({missing[0]}); until it is, the cells below "
        f"run the worked solution, {SOLUTIONS_PACKAGE}/{name}.py."
    )
    return Chosen(load_solution(name), False, note, missing)
