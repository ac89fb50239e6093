"""Replay guard: committed histories must replay on the current workflow code.

A change that alters the commands the workflow issues for an existing history (reordered
steps, a new activity without ``workflow.patched``) breaks running orders; this test turns
that into a CI failure. Histories are recorded with ``python -m tests.record_histories``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from orderflow.workflows import OrderWorkflow
from tests.nondeterministic_workflow import ReorderedOrderWorkflow

HISTORY_FILES = sorted(Path(__file__).parent.glob("histories/**/*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"order-{path.stem}", path.read_text())


def test_histories_are_committed() -> None:
    assert len(HISTORY_FILES) >= 10, "run `python -m tests.record_histories`"


@pytest.mark.parametrize("path", HISTORY_FILES, ids=lambda p: p.stem)
async def test_history_replays_on_current_code(path: Path) -> None:
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


async def test_replay_catches_an_incompatible_change() -> None:
    replayer = Replayer(workflows=[ReorderedOrderWorkflow], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(
            load(Path(__file__).parent / "histories" / "happy_path.json")
        )
