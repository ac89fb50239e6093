"""Settings from environment variables (and an optional ``.env`` file).

Connection to Temporal layers three sources, most specific first: explicit settings
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``), then a ``temporalio.envconfig`` profile
(``TEMPORAL_PROFILE`` / ``TEMPORAL_CONFIG_FILE``, which also carry TLS and API keys), then the
local dev server defaults. The same code therefore talks to the embedded dev server, a
self-hosted cluster or Temporal Cloud without changes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderflow.models import TASK_QUEUE

DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
DURATION = re.compile(r"(?P<number>\d+(\.\d+)?)\s*(?P<unit>[smhd]?)")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Host names that mean "this machine" (brackets of an IPv6 literal stripped first)."""


def is_local_host(host: str) -> bool:
    return host.strip("[]") in LOCAL_HOSTS


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only; an existing one is left as it
    is. The data dir holds the store, the dev server's database and logs."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite's -wal and -shm files
    then inherit the mode; log handlers append to it).

    An existing file is not opened at all: closing any descriptor of a SQLite database
    drops every POSIX lock this process holds on it, under the connections that use it.
    """
    private_dir(path.parent)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return path


class Settings(BaseSettings):
    """Every knob of orderflow; CLI flags mirror these and override them."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERFLOW_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path(".orderflow")
    database_url: str | None = None
    temporal_address: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "temporal_address")
    )
    temporal_namespace: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "temporal_namespace")
    )
    temporal_profile: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_PROFILE", "temporal_profile")
    )
    task_queue: str = TASK_QUEUE
    api_host: str = "127.0.0.1"
    api_port: int = 8081
    ui_port: int = 8080
    ui_url: str | None = None
    """Base of every Temporal UI link; unset: derived (dev server, Codespaces, Temporal Cloud),
    see :mod:`orderflow.links`."""
    allow_faults: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the API answers to besides those of its bind address (``*``: any)."""
    worker_metrics_port: int | None = None
    # SQLite has one writer: more activities at once only queue on it, and time in that queue
    # counts against each attempt's 5 s timeout. 400 orders on 100 units with 3 workers took
    # 24.8 s at 50 and 47.6 s at 200 (bench/drills.py --only oversell --max-activities N).
    max_concurrent_activities: int = 50
    max_concurrent_workflow_tasks: int = 100
    review_threshold: Decimal = Decimal("500.00")
    """Orders whose total reaches this wait for a person's review after the reservation."""
    review_timeout: timedelta = timedelta(hours=24)
    """How long an order waits for its review before it is cancelled (``24h``, ``90m``,
    ``30s`` or seconds; a create payload may ask for less with ``review_timeout``)."""
    reconcile_every: float = Field(60.0, ge=0)
    """Seconds between reconciler runs (its Temporal Schedule); 0 creates no schedule."""
    reconcile_lookback: float = Field(48 * 3600, gt=0)
    """How far back (by close time) the reconciler looks for orders to repair."""
    startup_wait: float = Field(60.0, ge=0, le=3600)
    """Seconds a worker or API waits for Temporal to answer at start-up before giving up."""
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    """``text``: one line per event; ``json``: one JSON object per line, for log shippers."""
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    """OpenTelemetry traces (needs the ``otel`` extra); OTLP target from OTEL_EXPORTER_OTLP_*."""

    @field_validator("review_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """``24h``, ``90m``, ``30s`` as well as seconds or ISO 8601 (``PT24H``)."""
        if isinstance(value, str) and (found := DURATION.fullmatch(value.strip())):
            number, unit = float(found["number"]), found["unit"] or "s"
            return timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
        return value

    @property
    def store_url(self) -> str:
        """The database URL: PostgreSQL when configured, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orderflow.db').resolve()}"

    @cached_property
    def temporal_connect_config(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.connect`` (address, namespace, TLS, API key)."""
        from temporalio.envconfig import ClientConfigProfile

        profile = ClientConfigProfile.load(profile=self.temporal_profile)
        config: dict[str, Any] = dict(profile.to_client_connect_config())
        config["target_host"] = (
            self.temporal_address or config.get("target_host") or DEFAULT_TEMPORAL_ADDRESS
        )
        config["namespace"] = (
            self.temporal_namespace or config.get("namespace") or (DEFAULT_NAMESPACE)
        )
        return config

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy that computes its Temporal connection again: the cached one belongs to the
        original (``up`` copies the settings with the address of the dev server it started)."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("temporal_connect_config", None)
        return copy

    @property
    def address(self) -> str:
        return str(self.temporal_connect_config["target_host"])

    @property
    def namespace(self) -> str:
        return str(self.temporal_connect_config["namespace"])

    @property
    def is_local_temporal(self) -> bool:
        """True when the address is on this machine, so ``up`` may start a dev server there."""
        return is_local_host(self.address.rsplit(":", 1)[0])

    def redacted(self) -> dict[str, Any]:
        """The settings as safe to log: secrets (API keys, TLS keys, DB passwords) masked."""
        shown = self.model_dump(mode="json")
        if self.database_url:
            shown["database_url"] = _mask_url_password(self.database_url)
        connect = self.temporal_connect_config
        shown["temporal_address"] = connect["target_host"]
        shown["temporal_namespace"] = connect["namespace"]
        shown["temporal_tls"] = bool(connect.get("tls"))
        shown["temporal_api_key"] = "***" if connect.get("api_key") else None
        return shown

    @field_validator("ui_url")
    @classmethod
    def _ui_url_is_a_web_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://temporal.example.com")
        return value.rstrip("/")


def _mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags, tests)."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
