"""Activities: the order's side effects, each one idempotent and keyed by the order's
execution (:class:`~orderflow.store.OrderKeys`), and the reconciler's.

Each method stands for a call to an outside system (warehouse, payment gateway, email);
here the "systems" are tables in the store, so effects are real and checkable. Expected
business failures become non-retryable ``ApplicationError``s with a ``type`` the workflow
and the UI can show; anything else is left to the activity's RetryPolicy. A database
problem is retried too, but as a short ``StoreUnavailable`` message: SQL, hosts and users
never reach the workflow's history, the API or the consoles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from orderflow import faults
from orderflow.models import (
    WORKFLOW_TYPE,
    ChargePaymentInput,
    CompensationInput,
    CompensationName,
    ErrorType,
    FaultSpec,
    NotificationReceipt,
    NotifyCustomerInput,
    PaymentReceipt,
    ReconcileRequest,
    Repair,
    Reservation,
    ReserveInventoryInput,
    ReviewPolicy,
    ShipmentActivity,
    ShipmentInput,
    ShipmentResult,
    ShipmentState,
    StepName,
    UnsettledOrder,
    key_scope,
    order_id_from_workflow_id,
)
from orderflow.store import (
    AlreadyCompensatedError,
    OrderKeys,
    OutOfStockError,
    Store,
    UnknownProductError,
)


def keys_of(
    data: ReserveInventoryInput
    | ChargePaymentInput
    | NotifyCustomerInput
    | CompensationInput
    | ShipmentInput,
) -> OrderKeys:
    return OrderKeys(data.workflow_id, data.order_id, data.key_scope)


@asynccontextmanager
async def store_call() -> AsyncIterator[None]:
    """A database error becomes a retryable ``StoreUnavailable`` with the error class only."""
    try:
        yield
    except SQLAlchemyError as error:
        raise ApplicationError(
            f"the order store is unavailable ({type(error).__name__})",
            type=ErrorType.STORE_UNAVAILABLE.value,
        ) from None


class OrderActivities:
    """Holds the store (one pooled engine per worker), the faults switch and the review
    policy (orders whose total reaches ``review_threshold`` wait for a person)."""

    def __init__(
        self,
        store: Store,
        *,
        allow_faults: bool = True,
        review_threshold: Decimal | None = None,
        review_timeout: timedelta = timedelta(hours=24),
    ) -> None:
        self.store = store
        self.allow_faults = allow_faults
        self.review_threshold = review_threshold
        self.review_timeout = review_timeout

    async def _inject(self, spec: FaultSpec | None, order_id: str, step: StepName) -> None:
        if spec is None:
            return
        if not self.allow_faults:
            activity.logger.warning("order %s: fault plan ignored (faults disabled)", order_id)
            return
        await faults.apply(spec, order_id, step)

    @activity.defn(name=StepName.RESERVE_INVENTORY.value)
    async def reserve_inventory(self, data: ReserveInventoryInput) -> Reservation:
        """Warehouse: take stock for every line, all or nothing."""
        activity.logger.debug("order %s: reserving %d item(s)", data.order_id, len(data.items))
        await self._inject(data.fault, data.order_id, StepName.RESERVE_INVENTORY)
        try:
            async with store_call():
                lines, total = await self.store.reserve(keys_of(data), data.items)
        except OutOfStockError as error:
            raise ApplicationError(
                str(error), type=ErrorType.OUT_OF_STOCK.value, non_retryable=True
            ) from error
        except UnknownProductError as error:
            raise ApplicationError(
                str(error), type=ErrorType.UNKNOWN_PRODUCT.value, non_retryable=True
            ) from error
        except AlreadyCompensatedError as error:
            raise ApplicationError(
                str(error), type=ErrorType.ORDER_CANCELLED.value, non_retryable=True
            ) from error
        activity.logger.info("order %s: reserved, total %s", data.order_id, total)
        review = None
        if self.review_threshold is not None and total >= self.review_threshold:
            review = ReviewPolicy(
                threshold=self.review_threshold,
                timeout_seconds=self.review_timeout.total_seconds(),
            )
            activity.logger.info("order %s: %s needs a review", data.order_id, total)
        return Reservation(lines=lines, total=total, attempt=activity.info().attempt, review=review)

    @activity.defn(name=CompensationName.RELEASE_INVENTORY.value)
    async def release_inventory(self, data: CompensationInput) -> bool:
        """Compensation: put reserved stock back (no-op if nothing was reserved)."""
        async with store_call():
            released = await self.store.release(keys_of(data))
        activity.logger.info("order %s: stock released=%s", data.order_id, released)
        return released

    @activity.defn(name=StepName.CHARGE_PAYMENT.value)
    async def charge_payment(self, data: ChargePaymentInput) -> PaymentReceipt:
        """Payment gateway: capture the order total once."""
        activity.logger.debug("order %s: charging %s %s", data.order_id, data.amount, data.currency)
        await self._inject(data.fault, data.order_id, StepName.CHARGE_PAYMENT)
        try:
            async with store_call():
                payment_id, key = await self.store.charge(
                    keys_of(data), data.customer_id, data.amount
                )
        except AlreadyCompensatedError as error:
            raise ApplicationError(
                str(error), type=ErrorType.ORDER_CANCELLED.value, non_retryable=True
            ) from error
        activity.logger.info(
            "order %s: charged %s %s, payment %d",
            data.order_id, data.amount, data.currency, payment_id,
        )  # fmt: skip
        return PaymentReceipt(
            payment_id=payment_id,
            amount=data.amount,
            idempotency_key=key,
            attempt=activity.info().attempt,
        )

    @activity.defn(name=CompensationName.REFUND_PAYMENT.value)
    async def refund_payment(self, data: CompensationInput) -> str:
        """Compensation: refund the charge if one was made (no-op otherwise)."""
        async with store_call():
            amount = await self.store.refund(keys_of(data))
        activity.logger.info("order %s: refunded %s", data.order_id, amount)
        return str(amount)

    @activity.defn(name=StepName.NOTIFY_CUSTOMER.value)
    async def notify_customer(self, data: NotifyCustomerInput) -> NotificationReceipt:
        """Email service: tell the customer the order is confirmed (once)."""
        activity.logger.debug("order %s: notifying customer %s", data.order_id, data.customer_id)
        await self._inject(data.fault, data.order_id, StepName.NOTIFY_CUSTOMER)
        name = data.customer_name or data.customer_id
        async with store_call():
            notification_id = await self.store.notify(
                keys_of(data),
                data.customer_id,
                f"Hello {name}, your order {data.order_id} ({data.total}) is confirmed.",
            )
        activity.logger.info(
            "order %s: customer %s notified (notification %d)",
            data.order_id, data.customer_id, notification_id,
        )  # fmt: skip
        return NotificationReceipt(notification_id=notification_id, attempt=activity.info().attempt)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.reserve_inventory,
            self.release_inventory,
            self.charge_payment,
            self.refund_payment,
            self.notify_customer,
        ]


class ShipmentActivities:
    """The warehouse's shipping desk: pack a parcel, unpack it, hand it to the carrier."""

    def __init__(self, store: Store, *, allow_faults: bool = True) -> None:
        self.store = store
        self.allow_faults = allow_faults

    async def _inject(self, data: ShipmentInput, *, failures: bool) -> None:
        spec = data.fault
        if spec is None:
            return
        if not self.allow_faults:
            activity.logger.warning("order %s: fault plan ignored (faults disabled)", data.order_id)
            return
        if not failures:  # dispatch only takes the time the plan asks for
            spec = FaultSpec(latency=spec.latency)
        await faults.apply(spec, data.order_id, StepName.SHIP)

    @activity.defn(name=ShipmentActivity.PACK.value)
    async def pack(self, data: ShipmentInput) -> ShipmentResult:
        """Pick and pack the order's lines (once)."""
        activity.logger.debug("order %s: packing", data.order_id)
        await self._inject(data, failures=True)
        try:
            async with store_call():
                await self.store.pack(keys_of(data))
        except AlreadyCompensatedError as error:
            raise ApplicationError(
                str(error), type=ErrorType.ORDER_CANCELLED.value, non_retryable=True
            ) from error
        return ShipmentResult(state=ShipmentState.PACKED, attempt=activity.info().attempt)

    @activity.defn(name=CompensationName.UNPACK_SHIPMENT.value)
    async def unpack(self, data: ShipmentInput) -> bool:
        """Compensation: put the packed lines back on the shelf (no-op if none)."""
        async with store_call():
            unpacked = await self.store.unpack(keys_of(data))
        activity.logger.info("order %s: unpacked=%s", data.order_id, unpacked)
        return unpacked

    @activity.defn(name=ShipmentActivity.DISPATCH.value)
    async def dispatch(self, data: ShipmentInput) -> ShipmentResult:
        """Hand the parcel to the carrier: the point of no return."""
        await self._inject(data, failures=False)
        async with store_call():
            tracking = await self.store.dispatch(keys_of(data))
        activity.logger.info("order %s: dispatched, tracking %s", data.order_id, tracking)
        return ShipmentResult(
            state=ShipmentState.DISPATCHED,
            tracking_number=tracking,
            attempt=activity.info().attempt,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.pack, self.unpack, self.dispatch]


CLOSED_WITHOUT_COMPENSATION = ("Terminated", "TimedOut", "Failed", "Canceled")
"""Close statuses in which the order workflow may not have undone its side effects: no
workflow code runs on terminate or timeout; a failed run stopped on a bug; a run cancelled
by older code (before cancellation compensated) let the cancel escape."""


class ReconcileActivities:
    """The reconciler's side of the world: Temporal's visibility and the store."""

    def __init__(self, client: Client, store: Store) -> None:
        self.client = client
        self.store = store

    @activity.defn(name="find_unsettled_orders")
    async def find_unsettled(self, request: ReconcileRequest) -> list[UnsettledOrder]:
        """Closed order runs of the task queue whose store rows still hold stock or money."""
        since = datetime.now(UTC) - timedelta(seconds=request.lookback_seconds)
        statuses = ", ".join(f"'{status}'" for status in CLOSED_WITHOUT_COMPENSATION)
        query = (
            f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{request.task_queue}' "
            f"AND ExecutionStatus IN ({statuses}) "
            f"AND CloseTime > '{since.isoformat(timespec='seconds').replace('+00:00', 'Z')}'"
        )
        found: list[UnsettledOrder] = []
        async for execution in self.client.list_workflows(query, limit=request.limit):
            activity.heartbeat()
            order_id = order_id_from_workflow_id(execution.id)
            first_run_id = execution.raw_info.first_run_id or execution.run_id
            async with store_call():
                keys = await self.store.execution_keys(
                    execution.id,
                    order_id,
                    key_scope(execution.id, first_run_id),
                    execution.start_time,
                )
                if keys is None or not await self.store.holds(keys):
                    continue
            if await self._reset_since(execution.id, execution.run_id):
                continue
            found.append(
                UnsettledOrder(
                    workflow_id=execution.id,
                    order_id=order_id,
                    run_id=execution.run_id,
                    key_scope=keys.scope,
                    closed_as=execution.status.name if execution.status else "UNKNOWN",
                )
            )
        activity.logger.info("reconcile: %d closed order(s) still hold stock or money", len(found))
        return found

    @activity.defn(name="repair_order")
    async def repair(self, order: UnsettledOrder) -> Repair:
        """Release the order's stock and refund its charge (each at most once, ever)."""
        keys = OrderKeys(order.workflow_id, order.order_id, order.key_scope)
        reason = f"closed as {order.closed_as} without compensating"
        if await self._reset_since(order.workflow_id, order.run_id):
            return Repair(
                workflow_id=order.workflow_id,
                order_id=order.order_id,
                run_id=order.run_id,
                reason="reset into a new run, which owns the order now",
                released=False,
                refunded=Decimal("0"),
                new=False,
            )
        async with store_call():
            repair = await self.store.repair(keys, run_id=order.run_id, reason=reason)
        activity.logger.info(
            "order %s: reconciled (%s): stock released=%s, refunded %s",
            order.order_id, reason, repair.released, repair.refunded,
        )  # fmt: skip
        return repair

    async def _reset_since(self, workflow_id: str, run_id: str) -> bool:
        """Whether an operator reset this run (``temporal workflow reset``): the order goes
        on in the new run, with the same execution keys (the first run id survives a
        reset), so what the old run holds is the new run's to settle, not ours."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        description = await handle.describe()
        return bool(description.raw_description.workflow_extended_info.reset_run_id)

    def all(self) -> list[Callable[..., Any]]:
        return [self.find_unsettled, self.repair]
