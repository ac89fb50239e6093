"""How ``pytest -n N`` (pytest-xdist, in the project's ``addopts``) shares the suite out.

One test at a time goes to whichever worker is free, except two kinds of tests that must
stay together on one worker:

- the cells of a notebook (nbval): they run in order in that notebook's one kernel;
- the tests of a module with a module-scoped fixture (an own server, a set of verdicts
  checked once): on one worker the fixture is built once, not once per worker.

xdist's own ``--dist loadgroup`` would do this from ``xdist_group`` marks, but it passes the
group inside the test's node id, which pytest 9.2 no longer lets a plugin change (the marks
are silently ignored: pytest-dev/pytest-xdist#1386). This scheduler decides from the node id
and the module's source instead, in the controller, before any worker runs a test.
Units with more tests start first (xdist's default order), so notebooks are not the tail.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

MODULE_SCOPED_FIXTURE = re.compile(r"@pytest\.fixture\([^)]*scope=[\"'](module|class)[\"']")


@cache
def _has_module_scoped_fixture(source: Path) -> bool:
    try:
        return bool(MODULE_SCOPED_FIXTURE.search(source.read_text()))
    except OSError:
        return False


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # an explicit --dist loadfile, loadscope, worksteal, ... is respected
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class NotebooksAndSharedModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            if path.endswith(".ipynb") or (
                path.endswith(".py") and _has_module_scoped_fixture(root / path)
            ):
                return path
            return nodeid

    return NotebooksAndSharedModules(config, log)
