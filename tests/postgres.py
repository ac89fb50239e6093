"""A throwaway PostgreSQL cluster started by the tests themselves (no Docker, no service).

``initdb`` + ``pg_ctl`` in a temporary directory, on a free port, with ``fsync=off`` (the
data dies with the test session anyway). PostgreSQL refuses to run as root, so as root the
commands run as the ``postgres`` user through ``runuser`` (recipes.md).

Without PostgreSQL binaries the tests that need it are skipped with the reason, unless
``ORDERFLOW_REQUIRE_POSTGRES=1`` (CI) turns the skip into a failure: CI must never pass
by silently not testing the database it promises to support.

Use the session fixture ``postgres_cluster`` and ``await cluster.create_database()`` for a
fresh, empty database per test.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.devserver import free_port

REQUIRE_ENV = "ORDERFLOW_REQUIRE_POSTGRES"
PG_BIN_ENV = "ORDERFLOW_PG_BIN"
SUPERUSER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries, or the cluster would not start."""


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (env, Debian layout, then PATH)."""
    candidates: list[str] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(os.environ[PG_BIN_ENV])
    # Debian/Ubuntu keep server binaries out of PATH, one directory per major version.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's `postgresql`"
        f" package or set {PG_BIN_ENV}"
    )


class PostgresCluster:
    """One PostgreSQL server in a temporary directory; ``stop`` removes everything."""

    def __init__(self, bin_dir: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="orderflow-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb/postgres refuse to run as root
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
        steps = [
            ("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "--no-sync"),
            (
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=200",
                "start",
            ),
        ]  # fmt: skip
        for step in steps:
            result = self._run(*step)
            if result.returncode != 0:
                log = self.log.read_text() if self.log.exists() else ""
                self.stop()
                raise PostgresUnavailableError(
                    f"{step[0]} failed ({result.returncode}): {result.stderr.strip()} {log}"
                )
            if step[0] == "pg_ctl":
                self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    async def create_database(self, prefix: str = "orderflow") -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import asyncpg  # the `postgres` extra

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the session; skip (or fail, in CI) when impossible."""
    try:
        import asyncpg  # noqa: F401

        cluster = PostgresCluster(find_pg_bin()).start()
    except (PostgresUnavailableError, ImportError) as error:
        if postgres_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but PostgreSQL is unavailable: {error}")
        pytest.skip(f"PostgreSQL unavailable: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()
