"""Remote clusters: ``temporalio.envconfig`` profiles and env vars reach ``Settings``.

The same code talks to the local dev server, a self-hosted cluster or Temporal Cloud; only
configuration changes. These tests write a real ``temporal.toml`` (the format the
``temporal`` CLI uses), point ``TEMPORAL_CONFIG_FILE`` at it and check what
``Client.connect`` would receive, and that ``Settings.redacted()`` (what we log) never
contains a secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from orderflow.config import Settings

API_KEY = "tc-api-key-do-not-log-7f3a"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----"
CERT = "-----BEGIN CERTIFICATE-----\nY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"
DB_PASSWORD = "pg-pass-do-not-log-91c2"

PROFILES = f"""
[profile.default]
address = "temporal.internal:7233"
namespace = "orders"

[profile.cloud]
address = "orders.a1b2c.tmprl.cloud:7233"
namespace = "orders.a1b2c"
api_key = "{API_KEY}"

[profile.mtls]
address = "orders.a1b2c.tmprl.cloud:7233"
namespace = "orders.a1b2c"
[profile.mtls.tls]
client_cert_path = "{{cert}}"
client_key_path = "{{key}}"
"""

TEMPORAL_ENV = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_TLS",
    "ORDERFLOW_DATABASE_URL",
)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in TEMPORAL_ENV:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "client.pem").write_text(CERT)
    (tmp_path / "client.key").write_text(PRIVATE_KEY)
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES.format(cert=tmp_path / "client.pem", key=tmp_path / "client.key"))
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
    return path


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def assert_no_secrets(shown: dict[str, object]) -> None:
    text = json.dumps(shown, default=str)
    for secret in (API_KEY, PRIVATE_KEY, "c2VjcmV0LWtleS1ieXRlcw", DB_PASSWORD):
        assert secret not in text


def test_default_profile_from_the_file(config_file: Path) -> None:
    config = settings().temporal_connect_config
    assert config["target_host"] == "temporal.internal:7233"
    assert config["namespace"] == "orders"
    assert not config.get("tls") and not config.get("api_key")
    assert not settings().is_local_temporal  # `orderflow up` must not start a dev server


def test_cloud_profile_with_api_key_turns_tls_on(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    current = settings()
    config = current.temporal_connect_config
    assert config["target_host"] == "orders.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "orders.a1b2c"
    assert config["api_key"] == API_KEY
    assert config["tls"] is True
    shown = current.redacted()
    assert shown["temporal_api_key"] == "***" and shown["temporal_tls"] is True
    assert shown["temporal_profile"] == "cloud"
    assert_no_secrets(shown)


def test_mtls_profile_loads_client_certificate(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "mtls")
    current = settings()
    tls = current.temporal_connect_config["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == CERT.encode() and tls.client_private_key == PRIVATE_KEY.encode()
    shown = current.redacted()
    assert shown["temporal_tls"] is True and shown["temporal_api_key"] is None
    assert_no_secrets(shown)


def test_env_vars_override_the_profile(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "eu-west-1.aws.api.temporal.io:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "orders-eu.a1b2c")
    config = settings().temporal_connect_config
    assert config["target_host"] == "eu-west-1.aws.api.temporal.io:7233"
    assert config["namespace"] == "orders-eu.a1b2c"
    assert config["api_key"] == API_KEY  # the rest still comes from the profile


def test_a_copy_with_another_address_connects_there(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``up`` copies the settings with the address of the dev server it started, after the
    original has already answered where Temporal is: the copy must not keep that answer."""
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    original = settings()
    assert original.address != "127.0.0.1:7999"  # the answer is computed (and cached) here
    copy = original.model_copy(update={"temporal_address": "127.0.0.1:7999"})
    assert copy.address == "127.0.0.1:7999"
    assert copy.temporal_connect_config["api_key"] == API_KEY  # the profile still applies
    assert original.address != copy.address


def test_api_key_from_env_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in TEMPORAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "orders.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    monkeypatch.setenv(
        "ORDERFLOW_DATABASE_URL", f"postgresql+asyncpg://orderflow:{DB_PASSWORD}@db:5432/orders"
    )
    current = settings()
    assert current.temporal_connect_config["api_key"] == API_KEY
    shown = current.redacted()
    assert shown["temporal_api_key"] == "***"
    assert shown["database_url"] == "postgresql+asyncpg://orderflow:***@db:5432/orders"
    assert_no_secrets(shown)


def test_unknown_profile_is_a_clear_error(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "nope")
    with pytest.raises(Exception, match="nope"):
        _ = settings().temporal_connect_config
