"""Fixtures for the drills: a private store, task queue and worker-process pool per test.

Drills count rows and stock across the whole store, so each gets its own SQLite file and
task queue (the session dev server is shared). Worker processes are killed in teardown,
whether the test passed or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from bench.drillkit.harness import fresh_drill
from bench.drillkit.procs import WorkerPool
from bench.drillkit.scenarios import Drill
from orderflow.devserver import DevServer


@pytest.fixture
async def drill(dev_server: DevServer, client: Client, tmp_path: Path) -> AsyncIterator[Drill]:
    async with fresh_drill(dev_server, client, tmp_path, "drill") as opened:
        yield opened


@pytest.fixture
def workers(drill: Drill) -> WorkerPool:
    return drill.workers


def assert_held(report: object) -> None:
    """Fail with every broken guarantee listed, not only the first."""
    violations = getattr(report, "violations", [])
    assert not violations, "\n".join(violations)
