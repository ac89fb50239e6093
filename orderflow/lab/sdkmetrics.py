"""The Temporal SDK's own metrics, read in the kernel: ``temporalio.runtime.MetricBuffer``.

A client's ``Runtime`` built with a ``MetricBuffer`` keeps every metric update of the SDK (and
of the worker built on that client) in memory: counter increments, gauge values, histogram
observations, each with its attributes (namespace, task queue, workflow and activity type).
:class:`SdkMetrics` drains the buffer and answers questions about it, so a tutorial reads
the same numbers a Prometheus server would scrape, without a port or an HTTP request.

The buffer is bounded: the SDK drops (and logs) updates once it is full, so call
:meth:`SdkMetrics.collect` now and then on a long-running kernel. In a service, export the
same metrics with ``ORDERFLOW_WORKER_METRICS_PORT`` (Prometheus) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
)

if TYPE_CHECKING:
    import pandas as pd

KINDS = {
    BUFFERED_METRIC_KIND_COUNTER: "counter",
    BUFFERED_METRIC_KIND_GAUGE: "gauge",
    BUFFERED_METRIC_KIND_HISTOGRAM: "histogram",
}
BUFFER_SIZE = 100_000
"""Updates held between two collections (the SDK's advice: tens of thousands or more)."""


@dataclass(frozen=True)
class MetricUpdate:
    """One update as the SDK reported it (durations in seconds)."""

    name: str
    kind: str
    value: int | float
    unit: str | None
    attributes: Mapping[str, Any]


@dataclass
class SdkMetrics:
    """A ``MetricBuffer`` to give a client's runtime, and what was collected from it."""

    buffer: MetricBuffer = field(
        default_factory=lambda: MetricBuffer(BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
    )
    updates: list[MetricUpdate] = field(default_factory=list)
    runtime: Runtime | None = None
    """The runtime the buffer is attached to (set by ``NotebookEnv.add_worker``)."""

    def collect(self) -> int:
        """Move what the SDK recorded since the last call into :attr:`updates`; how many."""
        try:
            drained = self.buffer.retrieve_updates()
        except RuntimeError:  # no runtime uses the buffer yet: nothing was recorded
            return 0
        for update in drained:
            metric = update.metric
            self.updates.append(
                MetricUpdate(
                    name=metric.name,
                    kind=KINDS.get(metric.kind, str(metric.kind)),
                    value=update.value,
                    unit=metric.unit,
                    attributes=dict(update.attributes),
                )
            )
        return len(drained)

    def names(self) -> list[str]:
        return sorted({update.name for update in self.updates})

    def _matching(self, name: str, where: Mapping[str, Any]) -> list[MetricUpdate]:
        return [
            update
            for update in self.updates
            if update.name == name
            and all(update.attributes.get(key) == value for key, value in where.items())
        ]

    def counter(self, name: str, **where: Any) -> int | float:
        """A counter's total (the SDK reports increments), over updates whose attributes
        match ``where`` (e.g. ``activity_type="charge_payment"``)."""
        return sum(update.value for update in self._matching(name, where))

    def observations(self, name: str, **where: Any) -> int:
        """How many values a histogram recorded (e.g. activity executions for
        ``temporal_activity_execution_latency``)."""
        return len(self._matching(name, where))

    def frame(self) -> pd.DataFrame:
        """Every collected update, one row each, attributes as columns."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"name": u.name, "kind": u.kind, "value": u.value, "unit": u.unit, **u.attributes}
                for u in self.updates
            ]
        )
