"""Temporal UI links: every form :func:`orderflow.links.temporal_ui_url` knows, and the doors
that use it (the API's console config, the CLI, the notebook env's and the widget console's
links come from the same function and are checked in their own tests too)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from orderflow.api import create_app
from orderflow.api.middleware import codespace_names
from orderflow.config import Settings
from orderflow.links import order_url, temporal_ui_url, workflow_url, workflows_url
from orderflow.orders import Orders
from tests.apiserver import serve
from tests.clirun import run_cli

CODESPACE = {
    "CODESPACES": "true",
    "CODESPACE_NAME": "octocat-literate-space-parakeet-mld5",
    "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev",
}


def settings_for(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_local_dev_server_serves_its_own_ui() -> None:
    settings = settings_for(temporal_address="127.0.0.1:7233", ui_port=8080)
    assert temporal_ui_url(settings, environ={}) == "http://127.0.0.1:8080"
    other = settings_for(temporal_address="localhost:17233", ui_port=18080)
    assert temporal_ui_url(other, environ={}) == "http://localhost:18080"
    ipv6 = settings_for(temporal_address="[::1]:7233")
    assert temporal_ui_url(ipv6, environ={}) == "http://[::1]:8080"


def test_in_a_codespace_the_ui_is_the_forwarded_port() -> None:
    settings = settings_for(temporal_address="127.0.0.1:7233", ui_port=8080)
    assert (
        temporal_ui_url(settings, environ=CODESPACE)
        == "https://octocat-literate-space-parakeet-mld5-8080.app.github.dev"
    )
    # Half the variables (another cloud IDE, a stale shell) is not a codespace.
    half = {"CODESPACE_NAME": "x"}
    assert temporal_ui_url(settings, environ=half) == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "address",
    ["orders.a1b2c.tmprl.cloud:7233", "us-east-1.aws.api.temporal.io:7233"],
)
def test_temporal_cloud_links_to_the_namespace_in_the_cloud_ui(address: str) -> None:
    settings = settings_for(temporal_address=address, temporal_namespace="orders.a1b2c")
    # Cloud wins over the codespace: the browser reaches Cloud directly.
    assert temporal_ui_url(settings, environ=CODESPACE) == "https://cloud.temporal.io"
    assert (
        order_url(settings, "order-42")
        == "https://cloud.temporal.io/namespaces/orders.a1b2c/workflows/order-42"
    )


def test_a_configured_base_wins_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_UI_URL", "https://ops.example.com/temporal/")
    for address in ("127.0.0.1:7233", "orders.a1b2c.tmprl.cloud:7233", "temporal.internal:7233"):
        settings = Settings(_env_file=None, temporal_address=address)  # type: ignore[call-arg]
        assert temporal_ui_url(settings, environ=CODESPACE) == "https://ops.example.com/temporal"
    assert (
        order_url(settings, "order-7")
        == "https://ops.example.com/temporal/namespaces/default/workflows/order-7"
    )


def test_a_remote_cluster_without_a_configured_ui_gets_no_link() -> None:
    settings = settings_for(temporal_address="temporal.internal:7233")
    assert temporal_ui_url(settings, environ=CODESPACE) is None
    assert order_url(settings, "order-1") is None
    assert workflows_url(None, "default") is None


def test_ids_and_namespaces_are_encoded_as_the_ui_expects() -> None:
    assert (
        workflow_url("http://ui", "team/a", "order-a b?c")
        == "http://ui/namespaces/team%2Fa/workflows/order-a%20b%3Fc"
    )


@pytest.mark.parametrize("value", ["ftp://files.example.com", "temporal.example.com", "http://"])
def test_a_bad_ui_url_is_refused_with_the_setting_named(value: str) -> None:
    with pytest.raises(ValidationError, match="ui_url"):
        settings_for(ui_url=value)


async def test_the_cli_refuses_a_bad_ui_url_in_one_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_UI_URL", "javascript:alert(1)")
    result = await run_cli(settings, "order", "list")
    assert result.code == 1, result
    assert result.stderr.startswith("error: invalid setting: ui_url:"), result.stderr
    assert "Traceback" not in result.stderr


async def test_the_api_gives_the_console_the_configured_links(
    orders: Orders, settings: Settings
) -> None:
    # New Settings, not model_copy: a copy keeps the cached connection config of the original.
    cloud = settings_for(temporal_address=settings.address, ui_url="https://ui.example.com")
    async with serve(create_app(cloud, orders=orders)) as url, httpx.AsyncClient() as http:
        body = (await http.get(f"{url}/api/config")).json()
    assert body["temporal_ui_url"] == "https://ui.example.com"
    assert (
        body["temporal_ui_workflows_url"] == "https://ui.example.com/namespaces/default/workflows"
    )
    remote = settings_for(temporal_address="temporal.internal:7233")
    async with serve(create_app(remote, orders=orders)) as url, httpx.AsyncClient() as http:
        body = (await http.get(f"{url}/api/config")).json()
    assert body["temporal_ui_url"] is None and body["temporal_ui_workflows_url"] is None


def test_in_a_codespace_the_api_accepts_its_forwarded_name_and_origin() -> None:
    hosts, origins = codespace_names(8081, CODESPACE)
    assert hosts == {"octocat-literate-space-parakeet-mld5-8081.app.github.dev"}
    assert "https://octocat-literate-space-parakeet-mld5-8081.app.github.dev" in origins
    assert "http://localhost:8081" in origins  # the proxy may rewrite Origin to localhost
    assert codespace_names(8081, {}) == (frozenset(), frozenset())
