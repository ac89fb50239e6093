"""Activities: the order's side effects, each one idempotent and keyed by workflow id.

Each method stands for a call to an outside system (warehouse, payment gateway, email);
here the "systems" are tables in the store, so effects are real and checkable. Expected
business failures become non-retryable ``ApplicationError``s with a ``type`` the workflow
and the UI can show; anything else is left to the activity's RetryPolicy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orderflow import faults
from orderflow.models import (
    ChargePaymentInput,
    CompensationInput,
    ErrorType,
    FaultSpec,
    NotificationReceipt,
    NotifyCustomerInput,
    PaymentReceipt,
    Reservation,
    ReserveInventoryInput,
    StepName,
)
from orderflow.store import (
    AlreadyCompensatedError,
    OutOfStockError,
    Store,
    UnknownProductError,
)


class OrderActivities:
    """Holds the store (one pooled engine per worker) and the faults switch."""

    def __init__(self, store: Store, *, allow_faults: bool = True) -> None:
        self.store = store
        self.allow_faults = allow_faults

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
        activity.logger.info("order %s: reserving %d item(s)", data.order_id, len(data.items))
        await self._inject(data.fault, data.order_id, StepName.RESERVE_INVENTORY)
        try:
            lines, total = await self.store.reserve(data.workflow_id, data.order_id, data.items)
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
        return Reservation(lines=lines, total=total, attempt=activity.info().attempt)

    @activity.defn(name="release_inventory")
    async def release_inventory(self, data: CompensationInput) -> bool:
        """Compensation: put reserved stock back (no-op if nothing was reserved)."""
        released = await self.store.release(data.workflow_id, data.order_id)
        activity.logger.info("order %s: stock released=%s", data.order_id, released)
        return released

    @activity.defn(name=StepName.CHARGE_PAYMENT.value)
    async def charge_payment(self, data: ChargePaymentInput) -> PaymentReceipt:
        """Payment gateway: capture the order total once."""
        activity.logger.info("order %s: charging %s %s", data.order_id, data.amount, data.currency)
        await self._inject(data.fault, data.order_id, StepName.CHARGE_PAYMENT)
        try:
            payment_id, key = await self.store.charge(
                data.workflow_id, data.order_id, data.customer_id, data.amount
            )
        except AlreadyCompensatedError as error:
            raise ApplicationError(
                str(error), type=ErrorType.ORDER_CANCELLED.value, non_retryable=True
            ) from error
        activity.logger.info("order %s: charged, payment %d", data.order_id, payment_id)
        return PaymentReceipt(
            payment_id=payment_id,
            amount=data.amount,
            idempotency_key=key,
            attempt=activity.info().attempt,
        )

    @activity.defn(name="refund_payment")
    async def refund_payment(self, data: CompensationInput) -> str:
        """Compensation: refund the charge if one was made (no-op otherwise)."""
        amount = await self.store.refund(data.workflow_id, data.order_id)
        activity.logger.info("order %s: refunded %s", data.order_id, amount)
        return str(amount)

    @activity.defn(name=StepName.NOTIFY_CUSTOMER.value)
    async def notify_customer(self, data: NotifyCustomerInput) -> NotificationReceipt:
        """Email service: tell the customer the order is confirmed (once)."""
        activity.logger.info("order %s: notifying customer %s", data.order_id, data.customer_id)
        await self._inject(data.fault, data.order_id, StepName.NOTIFY_CUSTOMER)
        name = data.customer_name or data.customer_id
        notification_id = await self.store.notify(
            data.workflow_id,
            data.customer_id,
            f"Hello {name}, your order {data.order_id} ({data.total}) is confirmed.",
        )
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
