"""Links into the Temporal UI: one answer for the API, the web console, the CLI, the notebooks
and the widget console.

Where the UI lives depends on where Temporal runs, not on who asks, so :func:`temporal_ui_url`
decides it once, in this order:

1. ``ORDERFLOW_UI_URL``: whatever the operator configured (a UI behind a proxy, a
   self-hosted cluster's UI, a path prefix such as ``https://ops.example.com/temporal``);
2. **Temporal Cloud** (the address is a ``*.tmprl.cloud`` or ``*.api.temporal.io``
   endpoint): ``https://cloud.temporal.io``, where every namespace has its pages;
3. **GitHub Codespaces** with a local dev server (``CODESPACE_NAME`` and
   ``GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN`` are set): the forwarded address of the UI
   port, ``https://<codespace>-8080.app.github.dev``, since ``127.0.0.1`` means the
   codespace, not the browser's machine;
4. **the local dev server**: ``http://<host>:<ORDERFLOW_UI_PORT>``;
5. otherwise (a remote self-hosted cluster, nothing configured): no link at all, rather
   than one that leads nowhere.

Every form shares the UI's own routes (``/namespaces/<ns>/workflows/<workflow id>``, which
opens the latest run), so :func:`workflows_url` and :func:`workflow_url` only append them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from orderflow.config import Settings

TEMPORAL_CLOUD_UI = "https://cloud.temporal.io"
CLOUD_ENDPOINT_SUFFIXES = (".tmprl.cloud", ".api.temporal.io")
"""Temporal Cloud's gRPC endpoints: per namespace (``<ns>.<account>.tmprl.cloud``, mTLS) and
regional (``<region>.<cloud>.api.temporal.io``, API keys)."""
CODESPACE_NAME = "CODESPACE_NAME"
CODESPACES_DOMAIN = "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN"


def codespace_url(port: int, environ: Mapping[str, str] | None = None) -> str | None:
    """The browser's address of ``port`` when running in a GitHub codespace, else None."""
    env = os.environ if environ is None else environ
    name, domain = env.get(CODESPACE_NAME), env.get(CODESPACES_DOMAIN)
    if not name or not domain:
        return None
    return f"https://{name}-{port}.{domain}"


def is_temporal_cloud(address: str) -> bool:
    host = address.rsplit(":", 1)[0].lower().rstrip(".")
    return host.endswith(CLOUD_ENDPOINT_SUFFIXES)


def temporal_ui_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The base URL of the Temporal UI that shows this deployment's workflows (see the module
    docstring for the order of the forms), without a trailing slash; None when unknown."""
    if settings.ui_url:
        return settings.ui_url.rstrip("/")
    address = settings.address
    if is_temporal_cloud(address):
        return TEMPORAL_CLOUD_UI
    if not settings.is_local_temporal:
        return None
    forwarded = codespace_url(settings.ui_port, environ)
    if forwarded:
        return forwarded
    host = urlsplit(f"//{address}").hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.ui_port}"


def workflows_url(base: str | None, namespace: str) -> str | None:
    """The namespace's workflow list in the UI at ``base`` (None without a UI)."""
    if not base:
        return None
    return f"{base}/namespaces/{quote(namespace, safe='')}/workflows"


def workflow_url(base: str | None, namespace: str, workflow_id: str) -> str | None:
    """One workflow's page (its latest run) in the UI at ``base`` (None without a UI)."""
    listing = workflows_url(base, namespace)
    return f"{listing}/{quote(workflow_id, safe='')}" if listing else None


def order_url(settings: Settings, workflow_id: str) -> str | None:
    """The page of an order's workflow, for these settings."""
    return workflow_url(temporal_ui_url(settings), settings.namespace, workflow_id)
