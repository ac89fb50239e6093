"""One-click set-ups: the dev container (GitHub Codespaces, VS Code) and Binder.

Neither can be started here, so the files are parsed and everything they rely on is
checked in this checkout: the commands they run exist (Make targets, scripts), the ports
they label are the ones orderflow serves, and Binder finds the conda environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderflow.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def devcontainer() -> dict[str, Any]:
    # Plain JSON (no comments), so any tool can read it.
    return json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())


def make_targets(command: str) -> list[str]:
    """The targets of every ``make`` call in a shell command line."""
    targets: list[str] = []
    for part in re.split(r"&&|\|\||;", command):
        words = shlex.split(part)
        if words and words[0] == "make":
            targets += [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    return targets


def assert_make_target_exists(target: str) -> None:
    """``make -n`` prints what it would do and fails on an unknown target."""
    done = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, f"make {target}: {done.stderr}"


def test_the_container_is_python_3_11_and_installs_with_make_venv(
    devcontainer: dict[str, Any],
) -> None:
    image = devcontainer["image"]
    assert image.startswith("mcr.microsoft.com/devcontainers/python:"), image
    assert re.search(r":(\d+-)?3\.11(-|$)", image), f"{image} is not Python 3.11"
    assert make_targets(devcontainer["onCreateCommand"]) == ["venv"]
    for key in ("onCreateCommand", "postCreateCommand", "postStartCommand", "postAttachCommand"):
        for target in make_targets(devcontainer.get(key, "")):
            assert_make_target_exists(target)


def test_the_hint_after_start_names_jupyterlab_and_real_targets(
    devcontainer: dict[str, Any],
) -> None:
    hint = devcontainer["postAttachCommand"]
    assert "JupyterLab" in hint
    named = re.findall(r"make (\w+)", hint)
    assert named[0] == "lab", "JupyterLab comes first"
    for target in named:
        assert_make_target_exists(target)


def test_forwarded_ports_are_the_ones_orderflow_serves(devcontainer: dict[str, Any]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    makefile = (ROOT / "Makefile").read_text()
    lab_port = int(re.search(r"jupyter lab .*--port (\d+)", makefile).group(1))  # type: ignore[union-attr]
    wanted = {lab_port, settings.api_port, settings.ui_port}
    assert set(devcontainer["forwardPorts"]) == wanted
    labels = devcontainer["portsAttributes"]
    assert "JupyterLab" in labels[str(lab_port)]["label"]
    assert "web console" in labels[str(settings.api_port)]["label"]
    assert "Temporal UI" in labels[str(settings.ui_port)]["label"]


def test_the_venv_is_on_path_and_the_interpreter_setting(devcontainer: dict[str, Any]) -> None:
    path = devcontainer["remoteEnv"]["PATH"]
    assert path.startswith("${containerWorkspaceFolder}/.venv/bin:")
    interpreter = devcontainer["customizations"]["vscode"]["settings"]
    assert interpreter["python.defaultInterpreterPath"].endswith("/.venv/bin/python")
    for opened in devcontainer["customizations"]["codespaces"]["openFiles"]:
        assert (ROOT / opened).exists(), opened


def test_binder_builds_from_environment_yml_and_installs_the_checkout() -> None:
    # repo2docker ignores files at the top when a binder/ or .binder/ folder exists.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "jupyterlab" in " ".join(str(d) for d in environment["dependencies"])
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only when executable"
    lines = [
        line.strip()
        for line in post_build.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0].startswith("set -e")
    assert lines[1:] == ["python -m pip install --no-deps -e ."], lines
    syntax = subprocess.run(["sh", "-n", str(post_build)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
