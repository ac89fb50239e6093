"""Reaching Temporal: connect (waiting for it when asked), the SDK runtime, error translation.

Every entry point connects through :func:`connect`, so the data converter (pydantic), the
address, namespace and TLS (``Settings`` + ``temporalio.envconfig``) and tracing are the
same everywhere. Long-running processes (worker, API) pass ``wait`` so that starting
``orderflow devserver``, ``orderflow worker`` and ``orderflow api`` together works in any
order; short commands fail at once with one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, Plugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from orderflow.config import Settings
from orderflow.errors import OrderNotFoundError, TemporalUnavailableError
from orderflow.models import SEARCH_ATTRIBUTE_KEYS
from orderflow.tracing import temporal_plugins

logger = logging.getLogger(__name__)

RETRY_EVERY = (0.2, 0.5, 1.0, 2.0)
"""Pauses between connection attempts while waiting for Temporal (then every 2 s)."""
POLLER_RPC_TIMEOUT = timedelta(seconds=3)
POLLER_FRESHNESS = timedelta(seconds=90)
"""A poller counts as live if it polled this recently (long polls last about a minute)."""


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Any] = (),
    plugins: Sequence[Plugin] | None = None,
    wait: float = 0.0,
) -> Client:
    """A client with the pydantic data converter and the settings' address, namespace, TLS.

    ``wait`` seconds: keep trying while Temporal does not answer (one log line says so),
    then raise :class:`TemporalUnavailableError`. Unless ``plugins`` are given, tracing
    follows ``settings.otel_exporter`` (workers built from this client inherit the plugin).
    """
    if plugins is None:
        plugins = temporal_plugins(settings.otel_exporter)
    deadline = time.monotonic() + wait
    pauses = iter(RETRY_EVERY)
    announced = False
    while True:
        try:
            return await Client.connect(
                **settings.temporal_connect_config,
                data_converter=pydantic_data_converter,
                runtime=runtime,
                interceptors=interceptors,
                plugins=plugins,
            )
        except RuntimeError as error:  # the core SDK reports connection failures this way
            reason = short_reason(error)
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g} s" if wait else ""
                raise TemporalUnavailableError(
                    f"cannot reach Temporal at {settings.address}{waited}: {reason}"
                ) from error
            if not announced:
                logger.info(
                    "waiting for Temporal at %s (up to %g s): %s", settings.address, wait, reason
                )
                announced = True
            pause = next(pauses, RETRY_EVERY[-1])
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))


def short_reason(error: BaseException) -> str:
    """The gist of a (long, multi-line) connection error from the Rust core."""
    text = " ".join(str(error).split())
    for gist in ("Connection refused", "timed out", "dns error", "certificate", "Unauthenticated"):
        if gist.lower() in text.lower():
            return gist.lower()
    return text[:160]


def metrics_runtime(port: int | None, host: str = "127.0.0.1") -> Runtime | None:
    """A Runtime exporting the SDK's own metrics (Prometheus) on ``host:port``, if asked."""
    if not port:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


@contextmanager
def missing_order(
    order_id: str,
    statuses: tuple[RPCStatusCode, ...] = (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT),
) -> Iterator[None]:
    """Turn Temporal's "no such workflow" answer into :class:`OrderNotFoundError`."""
    try:
        yield
    except RPCError as error:
        if error.status in statuses:
            raise OrderNotFoundError(order_id) from error
        raise


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the order search attributes on the client's namespace if missing.

    Returns the names it added. The dev server helper registers them at start; this covers a
    server started some other way (a plain ``temporal server start-dev``, a cluster). On
    Temporal Cloud the operator API refuses: add them there once with ``tcld`` or the Cloud
    UI (docs/scaling.md) - the error says so.
    """
    namespace = client.namespace
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in SEARCH_ATTRIBUTE_KEYS
    }
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:  # e.g. Temporal Cloud
            logger.warning(
                "cannot list search attributes on %s (%s); assuming they are registered",
                namespace,
                error.status.name,
            )
            return []
        missing = wanted  # the time-skipping test server can add but not list
    else:
        missing = {
            name: kind for name, kind in wanted.items() if name not in known.custom_attributes
        }
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    except RPCError as error:
        names = ", ".join(sorted(missing))
        raise TemporalUnavailableError(
            f"the search attributes {names} are not registered on namespace {namespace!r} "
            f"and could not be added ({error.status.name}: {error.message}); add them as "
            "docs/scaling.md describes"
        ) from error
    logger.info("registered search attributes %s on %s", ", ".join(sorted(missing)), namespace)
    return sorted(missing)


async def live_pollers(client: Client, task_queue: str) -> dict[str, list[str]]:
    """Identities of workers that recently polled ``task_queue``, per task type
    (``workflow`` and ``activity``): the one check of "is a worker running?"."""
    found: dict[str, list[str]] = {}
    now = datetime.now(UTC)
    for name, kind in (
        ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            retry=False,
            timeout=POLLER_RPC_TIMEOUT,
        )
        found[name] = sorted(
            poller.identity
            for poller in answer.pollers
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESHNESS
        )
    return found
