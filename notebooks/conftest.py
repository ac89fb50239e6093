"""Run the tutorials under nbval, each in a fresh kernel with its own Temporal and data dir.

Every notebook calls ``orderflow.notebook.start()``, which starts a dev server when nothing
answers at ``TEMPORAL_ADDRESS``. Before nbval starts a notebook's kernel we point that
address (and the UI port) at free ports and the data dir at a new temporary directory, so
the kernel starts its own server (which dies with the kernel: nbval SIGKILLs it) and the
notebook's fixed order ids start from a clean slate, exactly as in a first run by a learner.
Nothing is shared with a ``orderflow up`` on 7233/8080 or with other notebooks.

To refresh the committed outputs after changing a notebook, execute it the same way, with
fixed ports and no execution timestamps: ``python notebooks/regenerate.py NN``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.devserver import free_port

# Worked solutions are run by the tests that check them (tests/test_exercises.py,
# tests/test_teaching.py); a solution that is itself a pytest test (07's) needs the
# teaching testkit's fixtures and must not be collected on its own.
collect_ignore_glob = ["solutions/*"]

SANITIZE_FILE = Path(__file__).with_name("nbval_sanitize.cfg")
_ENV_VARS = ("TEMPORAL_ADDRESS", "ORDERFLOW_UI_PORT", "ORDERFLOW_DATA_DIR", "TEMPORAL_PROFILE")
_LINK_VARS = ("ORDERFLOW_UI_URL", "CODESPACE_NAME", "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN")
"""Unset for the kernels: committed outputs show the dev server's own UI links."""
_data_dirs: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if getattr(option, "nbval_sanitize_with", "unset") is None:
        option.nbval_sanitize_with = str(SANITIZE_FILE)


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in _data_dirs:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Give the kernel nbval is about to start its own ports and data dir."""
    notebook = item.parent
    starting_kernel = item.path.suffix == ".ipynb" and getattr(notebook, "kernel", 1) is None
    if not starting_kernel:
        yield
        return
    saved = {name: os.environ.get(name) for name in (*_ENV_VARS, *_LINK_VARS)}
    data_dir = tempfile.mkdtemp(prefix=f"orderflow-{item.path.stem}-")
    _data_dirs.append(data_dir)
    os.environ["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    os.environ["ORDERFLOW_UI_PORT"] = str(free_port())
    os.environ["ORDERFLOW_DATA_DIR"] = data_dir
    for name in ("TEMPORAL_PROFILE", *_LINK_VARS):
        os.environ.pop(name, None)
    try:
        yield  # nbval starts the kernel here; it copies os.environ
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
