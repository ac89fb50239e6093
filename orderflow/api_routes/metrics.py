"""Prometheus metrics of the HTTP API: requests by route template, and orders by final state.

Each app gets its own ``CollectorRegistry`` so several apps in one process (tests, ``up``)
never clash over metric names.

How final states are counted, honestly: the number of orders in each final state is read
from Temporal visibility when ``/metrics`` is scraped (closed ``OrderWorkflow`` executions,
business state from the memo the workflow writes when it finishes). That is the truth for the
whole namespace, whichever API or worker handled the order, and it never double counts when
several API processes are scraped. The scan is cached for a few seconds and capped; when the
cap is hit ``orderflow_orders_scan_truncated`` is 1 and the counts are a lower bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from orderflow.models import FINAL_STATES, WORKFLOW_TYPE

UNMATCHED_ROUTE = "<unmatched>"
CLOSED_ORDERS_QUERY = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
SCAN_CACHE_SECONDS = 2.0
SCAN_LIMIT = 10_000


@dataclass
class ApiMetrics:
    """The API's metric families, registered on a registry of their own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _scanned_at: float = field(default=float("-inf"), init=False)

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
            "Orders in each final state (Temporal visibility + workflow memo).",
            ["state"],
            registry=self.registry,
        )
        self.truncated = Gauge(
            "orderflow_orders_scan_truncated",
            f"1 when more than {SCAN_LIMIT} closed orders exist and the counts are a lower bound.",
            registry=self.registry,
        )
        for state in FINAL_STATES:
            self.orders.labels(state=state.value)

    async def refresh_orders(self, client: Client) -> None:
        """Recount orders by final state from visibility (at most every few seconds)."""
        now = time.monotonic()
        if now - self._scanned_at < SCAN_CACHE_SECONDS:
            return
        counts = {state.value: 0 for state in FINAL_STATES}
        seen = 0
        async for execution in client.list_workflows(CLOSED_ORDERS_QUERY, limit=SCAN_LIMIT + 1):
            seen += 1
            if seen > SCAN_LIMIT:
                break
            state = await execution.memo_value("state", default=None)
            if state in counts:
                counts[state] += 1
        for state, count in counts.items():
            self.orders.labels(state=state).set(count)
        self.truncated.set(1 if seen > SCAN_LIMIT else 0)
        self._scanned_at = now


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
