"""The widget console in real JupyterLab 4, driven through Debian's Chromium.

JupyterLab runs as a subprocess on free ports with its own config, runtime and workspace
directories (nothing in the home directory is touched). The notebook starts its own dev
server inside its kernel; the test types into the widget form and clicks "Place order" like
a person, then reads the message and the status panel the widgets render. When JupyterLab
stops, the kernel and its dev server must be gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from playwright.async_api import expect

from orderflow.devserver import free_port, is_listening

pytestmark = pytest.mark.browser

TOKEN = "orderflow-test-token"
SLOW = 90_000  # ms: JupyterLab's first page load is heavy on a busy 2-core machine

NOTEBOOK_CELLS = [
    "import orderflow.notebook\n"
    "from orderflow.lab.console import OrderConsole\n"
    "env = await orderflow.notebook.start(ui=False)\n"
    "console = await OrderConsole.open(env, refresh_every=0.5)\n"
    "console",
]


@contextmanager
def jupyterlab(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A JupyterLab server on a free port; yields (base url, Temporal port of its kernels)."""
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / "console.ipynb")
    port, temporal_port = free_port(), free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "ORDERFLOW_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "jupyterlab.log", "wb"),  # noqa: SIM115 - closed with the process
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/status?token={TOKEN}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "jupyter lab exited; see jupyterlab.log"
            assert time.monotonic() < deadline, "jupyter lab did not answer in 60 s"
            time.sleep(0.2)
        yield base, temporal_port
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: Jupyter shuts kernels down and exits
        process.send_signal(signal.SIGINT)  # (the second one confirms without the prompt)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_console_widgets_work_in_jupyterlab(tmp_path, chromium: Any, artifacts: Path):
    with jupyterlab(tmp_path) as (base, temporal_port):
        context = await chromium.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        try:
            await page.goto(f"{base}/lab/tree/console.ipynb?token={TOKEN}", timeout=SLOW)
            await expect(page.locator(".jp-Notebook")).to_be_visible(timeout=SLOW)
            # A cell run before the kernel is connected is dropped: wait for "Idle".
            idle = page.get_by_text("Python 3 (ipykernel) | Idle")
            await expect(idle).to_be_visible(timeout=SLOW)
            # Run the cell (Shift+Enter in the focused cell), as a person would.
            await page.locator(".jp-Cell .jp-InputArea-editor").first.click()
            await page.keyboard.press("Shift+Enter")

            place = page.get_by_role("button", name="Place order")
            await expect(place).to_be_visible(timeout=SLOW)
            order_id = page.locator(".widget-text", has_text="Order id").locator("input")
            await order_id.fill("in-lab-1")
            await order_id.press("Enter")
            quantity = page.locator(".widget-inline-hbox", has_text="Quantity").locator("input")
            await quantity.fill("2")
            await quantity.press("Enter")
            await place.click()

            await expect(page.get_by_text("Order in-lab-1 placed.")).to_be_visible(timeout=SLOW)
            # The status panel follows the order to its end on its own (auto refresh).
            panel = page.locator(".widget-html", has_text="in-lab-1: ")
            await expect(panel).to_contain_text("COMPLETED", timeout=SLOW)
            # The default product is the catalog's first: the burr grinder at 129.00.
            await expect(panel).to_contain_text("total 258.00 USD")
            await expect(page.get_by_role("button", name="Cancel order")).to_be_disabled()
            assert is_listening("127.0.0.1", temporal_port)  # the kernel's own dev server
        except BaseException:
            await page.screenshot(path=artifacts / "jupyterlab-console.png", full_page=True)
            raise
        finally:
            await context.close()
    # JupyterLab has stopped: its kernel, and with it the kernel's dev server, are gone.
    deadline = time.monotonic() + 20
    while is_listening("127.0.0.1", temporal_port):
        assert time.monotonic() < deadline, "the kernel's dev server outlived JupyterLab"
        await asyncio.sleep(0.1)
