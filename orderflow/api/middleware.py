"""ASGI middleware in front of the routes: guards, request metrics, and the order gauge.

- :class:`BodyLimitMiddleware`: oversized bodies get a JSON 413 before a route parses
  anything (so nothing is started). Why not FastAPI's own ``max_body_size``: when a client
  declares a too-large ``Content-Length``, Starlette's limiter answers with a plain-text 413,
  and the API promises JSON errors everywhere.
- :class:`SecurityHeadersMiddleware`: ``nosniff`` everywhere, a strict CSP on the console.
- :class:`MetricsMiddleware` + :class:`ApiMetrics`: Prometheus counts and latencies by route
  *template*, and the number of orders in each state. Each app gets its own
  ``CollectorRegistry``, so several apps in one process (tests, ``up``) never clash.

Orders by state come from :meth:`Orders.count_by_state` (visibility counts on the
``OrderState`` search attribute and Temporal's execution status): the truth for the whole
namespace, whichever API or worker handled the order, never double counted when several
API processes are scraped. Counts are cached for a few seconds, and concurrent scrapes
share one refresh.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow.config import LOCAL_HOSTS, is_local_host
from orderflow.links import codespace_url
from orderflow.models import OrderState
from orderflow.orders import Orders

WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (413 above it): a create payload is a few hundred bytes."""
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of requests a page of this API (or the user) made itself."""


class RequestGuardMiddleware:
    """Refuse what a hostile web page or a rebinding DNS name can make a browser send.

    - **Host allow-list** (400): the API answers only to the names it is meant to be reached
      by (:func:`allowed_hosts`), so a DNS-rebinding name that resolves to 127.0.0.1 cannot
      read ``/api/orders`` from a page the user happens to visit.
    - **Cross-site state changes** (403): a POST/PUT/PATCH/DELETE that carries a foreign
      ``Origin`` or ``Sec-Fetch-Site: cross-site``/``same-site`` is refused. Every browser
      sends these on such requests; curl, scripts, SDKs and the load generator send
      neither and are served as before.
    - **JSON bodies** (415): a state-changing request with a body must declare
      ``Content-Type: application/json``, which a page cannot send cross-site without a
      CORS preflight (that this API does not grant unless configured).
    """

    def __init__(
        self, app: ASGIApp, *, hosts: frozenset[str], origins: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if "*" not in self.hosts and hostname(host) not in self.hosts:
            await send_json_error(send, 400, "this server does not answer to that host name")
            return
        if scope.get("method") in STATE_CHANGING:
            refusal = self._refusal(headers, host)
            if refusal is not None:
                await send_json_error(send, *refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: Headers, host: str) -> tuple[int, str] | None:
        fetch_site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins and urlsplit(origin).netloc != host:
            return 403, "cross-origin requests may not change orders"
        if fetch_site is not None and fetch_site not in SAME_SITE_FETCHES and origin is None:
            return 403, "cross-site requests may not change orders"
        declared = headers.get("content-length")
        has_body = (declared is not None and declared != "0") or "transfer-encoding" in headers
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and media_type != "application/json":
            return 415, "send the body as JSON (Content-Type: application/json)"
        return None


def hostname(host_header: str) -> str:
    """``127.0.0.1:8081`` -> ``127.0.0.1``; ``[::1]:8081`` -> ``::1``."""
    return urlsplit(f"//{host_header}").hostname or ""


def allowed_hosts(bind_host: str, extra: list[str]) -> frozenset[str]:
    """Names the API answers to: loopback names when bound to loopback; for a wildcard bind
    also this machine's names; plus ``ORDERFLOW_ALLOWED_HOSTS`` (``*`` allows any)."""
    names = set(LOCAL_HOSTS) | {name.lower() for name in extra}
    if bind_host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    elif not is_local_host(bind_host):
        names.add(hostname(bind_host).lower() or bind_host.lower())
    return frozenset(names)


def codespace_names(
    port: int, environ: Mapping[str, str] | None = None
) -> tuple[frozenset[str], frozenset[str]]:
    """Extra (host names, origins) the guard accepts inside a GitHub codespace.

    There the browser reaches the API at its forwarded address
    (``https://<codespace>-8081.app.github.dev``), and the forwarding proxy may rewrite
    ``Origin`` (and ``Host``) to ``localhost:8081``. Either way the page is this API's own
    console, so both spellings are accepted; outside a codespace nothing is added.
    """
    url = codespace_url(port, environ)
    if url is None:
        return frozenset(), frozenset()
    local = {f"http://localhost:{port}", f"http://127.0.0.1:{port}"}
    return frozenset({urlsplit(url).hostname or ""}), frozenset({url, *local})


class SecurityHeadersMiddleware:
    """``nosniff`` everywhere; a strict Content-Security-Policy on the web console.

    The CSP is defence in depth only: the console renders untrusted text with
    ``textContent``, and the browser tests check that without relying on the policy.
    """

    def __init__(self, app: ASGIApp, web_prefix: str = "/web") -> None:
        self.app = app
        self.web_prefix = web_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_web = str(scope.get("path", "")).startswith(self.web_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if is_web:
                    headers.append((b"content-security-policy", WEB_CSP.encode()))
                    headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` so FastAPI's body reader passes it on and its handler answers 413
    as JSON; if a response has not started it is caught here as a last resort.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


async def send_json_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 ``{"detail": ...}`` for bodies over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body larger than {self.max_bytes} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_json_error(send, 413, detail)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if response_started:
                raise
            await send_json_error(send, 413, detail)


UNMATCHED_ROUTE = "<unmatched>"
COUNT_CACHE_SECONDS = 2.0


@dataclass
class ApiMetrics:
    """The API's metric families, registered on a registry of their own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _counted_at: float = field(default=float("-inf"), init=False)
    _refresh: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "orderflow_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "orderflow_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.orders = Gauge(
            "orderflow_orders",
            "Orders in each state (Temporal visibility: OrderState and execution status).",
            ["state"],
            registry=self.registry,
        )
        for state in OrderState:
            self.orders.labels(state=state.value)

    async def refresh_orders(self, orders: Orders) -> None:
        """Recount orders by state (at most every few seconds; one refresh in flight)."""
        if time.monotonic() - self._counted_at < COUNT_CACHE_SECONDS:
            return
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._recount(orders))
        await asyncio.shield(self._refresh)

    async def _recount(self, orders: Orders) -> None:
        counts = await orders.count_by_state()
        for state, count in counts.items():
            self.orders.labels(state=state.value).set(count)
        self._counted_at = time.monotonic()


class MetricsMiddleware:
    """Pure ASGI middleware: count and time every HTTP request by its route *template*.

    The template (``/api/orders/{orderId}``), not the raw path, keeps label cardinality
    bounded whatever ids clients send; unknown paths share one label.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - started
            )
            self.metrics.requests.labels(method=method, route=route, status=str(status_code)).inc()


def route_template(scope: Scope) -> str:
    """The matched route's path template, the mount path for static files, else one label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    root = scope.get("app_root_path") or scope.get("root_path")
    if isinstance(root, str) and root:
        return f"{root}/"
    return UNMATCHED_ROUTE
