"""Deploy versions of the order workflow on a task queue of their own (tutorials 06-07).

The teaching variants share the workflow type name ``OrderWorkflow``, so they must never
poll the service's task queue: :func:`teaching_worker` refuses it. :class:`Deployment`
plays "production" in tutorial 06: one task queue whose worker is replaced by another
version of the code, the way a deployment replaces it.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from orderflow.config import Settings
from orderflow.models import TASK_QUEUE, OrderRequest
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.worker import BackgroundWorker, build_worker
from orderflow.workflows import ShipmentWorkflow


def teaching_worker(
    client: Client, store: Store, workflow_class: type, *, task_queue: str, **options: Any
) -> Worker:
    """A worker running one workflow variant (and the real activities) on its own queue.

    The queue must not be the service's: every variant shares the type name
    ``OrderWorkflow``, and two definitions on one queue would split running orders
    between incompatible code.
    """
    if task_queue == TASK_QUEUE:
        raise ValueError("teaching variants must not poll the service's task queue")
    return build_worker(
        client,
        store,
        Settings(task_queue=task_queue),
        workflows=[workflow_class, ShipmentWorkflow],
        task_queue=task_queue,
        **options,
    )


class Deployment:
    """One task queue whose worker is replaced by a new version of the code, as in a deploy.

    Its workers keep no workflow cache (``max_cached_workflows=0``): each workflow task is
    replayed from the history, which is what a freshly deployed worker does with the
    orders that were running when the previous version stopped.
    """

    def __init__(self, client: Client, store: Store, *, task_queue: str) -> None:
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.orders = Orders(client, store, task_queue=task_queue)
        self.version: type | None = None
        self._worker: BackgroundWorker | None = None

    async def roll_out(self, workflow_class: type) -> None:
        """Stop the running version (gracefully: activities in flight finish) and start this."""
        await self.stop()
        self.version = workflow_class
        self._worker = BackgroundWorker(
            lambda: teaching_worker(
                self.client,
                self.store,
                workflow_class,
                task_queue=self.task_queue,
                max_cached_workflows=0,
            )
        ).start()

    async def place(self, sku: str, *, order_id: str, quantity: int = 1, **extra: Any) -> str:
        """Start an order on this deployment's task queue; returns its id."""
        request = OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "ada",
                "items": [{"sku": sku, "quantity": quantity}],
                **extra,
            }
        )
        return (await self.orders.place(request)).order_id

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
