"""SdkMetrics: the SDK's own metrics read in-process from a ``MetricBuffer``, for a real
worker running real orders on the session dev server."""

from __future__ import annotations

from orderflow.config import Settings
from orderflow.connection import connect
from orderflow.lab.env import notebook_runtime
from orderflow.lab.sdkmetrics import SdkMetrics
from orderflow.models import (
    SHIPMENT_WORKFLOW_TYPE,
    WORKFLOW_TYPE,
    OrderRequest,
    OrderState,
    StepName,
)
from orderflow.orders import Orders
from orderflow.worker import BackgroundWorker, build_worker
from tests.conftest import unique

ACTIVITY_STEPS = (StepName.RESERVE_INVENTORY, StepName.CHARGE_PAYMENT, StepName.NOTIFY_CUSTOMER)


async def test_metrics_of_a_worker_are_read_from_its_buffer(settings: Settings, store, product):
    metrics = SdkMetrics()
    assert metrics.collect() == 0, "no runtime fills the buffer yet: nothing, and no error"
    metrics.runtime = notebook_runtime(metrics.buffer)
    client = await connect(settings, runtime=metrics.runtime)
    task_queue = unique("sdk-metrics")
    worker_settings = settings.model_copy(update={"task_queue": task_queue})
    worker = BackgroundWorker(lambda: build_worker(client, store, worker_settings)).start()
    try:
        orders = Orders(client, store, task_queue=task_queue)
        sku = await product(stock=5)
        for _ in range(2):
            request = OrderRequest.model_validate(
                {
                    "customer_id": "metrics",
                    "items": [{"sku": sku, "quantity": 1}],
                    "faults": {"charge_payment": {"fail_first_n": 1}},
                }
            )
            placed = await orders.place(request)
            assert (await orders.wait(placed.order_id, 30)).state == OrderState.COMPLETED
    finally:
        await worker.stop()
    assert metrics.collect() > 0
    assert {"temporal_activity_execution_latency", "temporal_workflow_completed"} <= set(
        metrics.names()
    )
    for step in ACTIVITY_STEPS:
        executions = metrics.observations("temporal_activity_execution_latency", activity_type=step)
        assert executions == (4 if step == StepName.CHARGE_PAYMENT else 2), step
    failed = metrics.counter("temporal_activity_execution_failed", activity_type="charge_payment")
    assert failed == 2  # one failed attempt per order, counted as increments
    # Each order and its shipment (a child workflow on the same task queue) completed once.
    for workflow_type in (WORKFLOW_TYPE, SHIPMENT_WORKFLOW_TYPE):
        completed = metrics.counter(
            "temporal_workflow_completed", task_queue=task_queue, workflow_type=workflow_type
        )
        assert completed == 2, workflow_type
    frame = metrics.frame()
    assert {"name", "kind", "value", "task_queue"} <= set(frame.columns)
    assert set(frame.kind) <= {"counter", "gauge", "histogram"}
    assert metrics.collect() >= 0 and len(metrics.updates) >= len(frame)  # drained, kept
