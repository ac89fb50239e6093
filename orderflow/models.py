"""The names and shapes everyone shares: API, workflow, activities, CLI, notebooks and tests.

Every string that crosses a process boundary (task queue, workflow type, query, signal and
update names, step names, states) is defined here once, so nothing else repeats a literal.
The models are pydantic v2 and double as the Temporal payloads (pydantic data converter),
which keeps the workflow input plain JSON that any Temporal client can send.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from temporalio.common import SearchAttributeKey

TASK_QUEUE = "orderflow"
WORKFLOW_TYPE = "OrderWorkflow"
STATUS_QUERY = "status"
CANCEL_SIGNAL = "cancel"
CANCEL_UPDATE = "cancel_order"
REVIEW_UPDATE = "review_order"
SHIPMENT_WORKFLOW_TYPE = "ShipmentWorkflow"
SHIPMENT_PACKED_SIGNAL = "shipment_packed"
"""Sent by the shipment (child) to its order (parent) when the parcel is packed."""
DISPATCH_SIGNAL = "dispatch"
"""Sent by the order to its shipment: dispatch now (the order is past the point of no return)."""
ATTEMPT_FAILED_SIGNAL = "attempt_failed"
"""Sent by the attempt tracker of version 1 (still handled, for histories that hold it)."""
FINAL_STATUS_MEMO = "final_status"
"""Memo key under which a run that Temporal closes as CANCELED leaves its last status."""
CURRENCY = "USD"

ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
WORKFLOW_ID_PREFIX = "order-"
SHIPMENT_ID_PREFIX = "ship-"

OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
CustomerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@+-]{1,64}$")]
# Free text shown to people: any characters (the web page renders it as text), bounded size.
CustomerName = Annotated[str, StringConstraints(max_length=200)]


def order_workflow_id(order_id: str) -> str:
    """The one place that maps an order id to its workflow id."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def order_id_from_workflow_id(workflow_id: str) -> str:
    """Inverse of :func:`order_workflow_id` and :func:`shipment_workflow_id` (other ids pass
    through unchanged)."""
    for prefix in (WORKFLOW_ID_PREFIX, SHIPMENT_ID_PREFIX):
        if workflow_id.startswith(prefix):
            return workflow_id.removeprefix(prefix)
    return workflow_id


def shipment_workflow_id(order_id: str) -> str:
    """The id of an order's shipment, the child workflow ``ShipmentWorkflow``."""
    return f"{SHIPMENT_ID_PREFIX}{order_id}"


def key_scope(workflow_id: str, first_execution_run_id: str) -> str:
    """The idempotency scope of one order execution: ``order-42:<first run id>``.

    Bound to the execution, not the bare workflow id, so an order id that is reused after
    Temporal forgot the old run can never find (and complete on) the old run's charge. The
    first run id survives a reset and continue-as-new, so a re-run step still finds its own
    earlier side effect."""
    return f"{workflow_id}:{first_execution_run_id}"


def new_order_id() -> str:
    """A fresh, URL-safe order id for callers that did not bring their own."""
    return uuid.uuid4().hex[:16]


class StepName(StrEnum):
    """The business steps, in the order the workflow runs them."""

    RESERVE_INVENTORY = "reserve_inventory"
    REVIEW = "review"
    """A person approves orders at or above the review threshold (skipped below it)."""
    CHARGE_PAYMENT = "charge_payment"
    SHIP = "ship"
    """The shipment child workflow: pack, then dispatch."""
    NOTIFY_CUSTOMER = "notify_customer"


class CompensationName(StrEnum):
    """Activities that undo a step (saga compensation)."""

    RELEASE_INVENTORY = "release_inventory"
    REFUND_PAYMENT = "refund_payment"
    UNPACK_SHIPMENT = "unpack_shipment"


class ShipmentActivity(StrEnum):
    """The shipment child's steps (activities of ``ShipmentWorkflow``)."""

    PACK = "pack_shipment"
    DISPATCH = "dispatch_shipment"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Cancelled while it ran (the attempt was stopped before it finished)."""
    COMPENSATED = "compensated"
    SKIPPED = "skipped"


class OrderState(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({OrderState.COMPLETED, OrderState.FAILED, OrderState.CANCELLED})


class AttemptOutcome(StrEnum):
    """How one activity attempt ended, as the attempt tracker records it."""

    RUNNING = "running"
    """Still running, or its worker died during it (the row was never finished)."""
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class PaymentKind(StrEnum):
    """Rows of the payments ledger."""

    CHARGE = "charge"
    REFUND = "refund"
    VOID = "void"
    """A refund of nothing: left by compensation so that a late charge is refused."""


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"


class ParcelStatus(StrEnum):
    """A shipment row in the store: packed, then dispatched or unpacked (a tombstone)."""

    PACKED = "packed"
    UNPACKED = "unpacked"
    DISPATCHED = "dispatched"


# --- search attributes: the order's state as Temporal's visibility sees it -----------------

ORDER_STATE_KEY = SearchAttributeKey.for_keyword("OrderState")
ORDER_CUSTOMER_KEY = SearchAttributeKey.for_keyword("OrderCustomerId")
ORDER_TOTAL_KEY = SearchAttributeKey.for_float("OrderTotal")
SEARCH_ATTRIBUTE_KEYS = (ORDER_STATE_KEY, ORDER_CUSTOMER_KEY, ORDER_TOTAL_KEY)
"""Custom search attributes the order workflow upserts at every state change. They must be
registered on the namespace (the dev server helper, compose and the worker do it; see
docs/scaling.md for a cluster and Temporal Cloud)."""


class ErrorType(StrEnum):
    """`ApplicationError.type` values the workflow, API and UI understand."""

    OUT_OF_STOCK = "OutOfStock"
    UNKNOWN_PRODUCT = "UnknownProduct"
    CARD_DECLINED = "CardDeclined"
    NOTIFICATION_REJECTED = "NotificationRejected"
    ORDER_CANCELLED = "OrderCancelled"
    TRANSIENT = "TransientFailure"
    SIMULATED_TIMEOUT = "SimulatedTimeout"
    STORE_UNAVAILABLE = "StoreUnavailable"
    SHIPMENT_REFUSED = "ShipmentRefused"


class _Strict(BaseModel):
    """Reject unknown fields: a typo in a request is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _integral(value: Any) -> Any:
    """``2.0`` is the integer 2, as JSON Schema counts it; other values are left to the
    strict check (``2.5``, ``"2"`` and ``true`` are refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_integral)]
"""An integer field of a client's request."""


class _Exact(_Strict):
    """Also no coercion between types: ``0`` is not ``false`` and ``"5"`` is not ``5``, so
    what the published JSON schema says is exactly what is accepted. Only for models of
    JSON-native fields: in strict mode a Python ``str`` is not accepted for an enum."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FaultSpec(_Exact):
    """Deterministic failure injection for one step (teaching and demo knob).

    - ``fail_first_n``: the first N attempts fail with a transient (retryable) error.
    - ``fail_rate`` + ``seed``: each attempt fails with this probability, decided by a
      seeded generator keyed on (seed, order, step, attempt), so runs are reproducible.
    - ``latency``: seconds every attempt takes (heartbeating, so a cancel still gets in).
    - ``permanent``: every attempt fails with the step's non-retryable business error.
    - ``timeout``: the failing attempts (the first one if ``fail_first_n`` is 0) hang past
      their start-to-close timeout instead of raising.
    """

    fail_first_n: Whole = Field(0, ge=0, le=20)
    fail_rate: float = Field(0.0, ge=0.0, le=1.0)
    seed: Whole = Field(0, ge=0, le=2**31 - 1)
    latency: float = Field(0.0, ge=0.0, le=30.0)
    permanent: bool = False
    timeout: bool = False


class FaultPlan(_Exact):
    """Per-step fault specs; a step without one runs normally."""

    reserve_inventory: FaultSpec | None = None
    charge_payment: FaultSpec | None = None
    ship: FaultSpec | None = None
    """Applies to packing (and its latency to dispatch too)."""
    notify_customer: FaultSpec | None = None

    def for_step(self, step: StepName) -> FaultSpec | None:
        spec: FaultSpec | None = getattr(self, step.value, None)
        return spec

    def is_empty(self) -> bool:
        return all(self.for_step(step) is None for step in StepName)


MAX_ATTEMPTS = 20
MIN_RETRY_INTERVAL = 0.1
"""Bounds on the retry settings a caller may send: a storm of endless, instant retries
would grow the order's history towards Temporal's limits and load the whole system."""


class RetrySettings(_Exact):
    """The activity RetryPolicy of the business steps (defaults sized for demos), bounded."""

    initial_interval: float = Field(1.0, ge=MIN_RETRY_INTERVAL, le=60)
    backoff_coefficient: float = Field(2.0, ge=1.0, le=10.0)
    maximum_interval: float = Field(10.0, ge=MIN_RETRY_INTERVAL, le=600)
    maximum_attempts: Whole = Field(
        8,
        ge=1,
        le=MAX_ATTEMPTS,
        description=f"Attempts in all, the first included (1..{MAX_ATTEMPTS}).",
    )

    @model_validator(mode="after")
    def _interval_order(self) -> RetrySettings:
        # Temporal's RetryPolicy refuses this inside the workflow, which would leave the
        # order stuck on a failing workflow task: reject it with the request instead.
        if self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must not be less than initial_interval")
        return self


class OrderItem(_Exact):
    sku: Sku = Field(
        description="A product of the catalog (GET /api/products lists them); an unknown "
        "sku is refused with 422.",
        examples=["espresso-beans"],
    )
    quantity: Whole = Field(ge=1, le=1000)


class OrderRequest(_Exact):
    """The create payload, and the workflow's input (with ``order_id`` filled in).

    Prices are not part of it: they come from the catalog when stock is reserved.
    """

    order_id: OrderId | None = None
    customer_id: CustomerId
    customer_name: CustomerName | None = None
    items: list[OrderItem] = Field(min_length=1, max_length=50)
    step_delay: float = Field(0.0, ge=0.0, le=60.0)
    faults: FaultPlan | None = None
    retry: RetrySettings | None = None
    review_timeout: float | None = Field(
        None,
        ge=1,
        le=7 * 24 * 3600,
        description="Seconds to wait for a review decision (for demos); the server's "
        "ORDERFLOW_REVIEW_TIMEOUT (24 h) when absent. Only orders at or above the review "
        "threshold wait for review.",
    )
    local_activities: bool | None = Field(
        None,
        description="Run the three steps as local activities: lower latency, less history "
        "(see docs/performance.md). Off unless set.",
    )

    @model_validator(mode="after")
    def _unique_skus(self) -> OrderRequest:
        skus = [item.sku for item in self.items]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku may appear only once in items")
        return self

    def with_order_id(self) -> OrderRequest:
        """Return a copy whose ``order_id`` is set (generated when absent)."""
        if self.order_id:
            return self
        return self.model_copy(update={"order_id": new_order_id()})

    @property
    def workflow_id(self) -> str:
        if not self.order_id:
            raise ValueError("order_id is not set; call with_order_id() first")
        return order_workflow_id(self.order_id)

    def fingerprint(self) -> dict[str, Any]:
        """What makes two creates "the same order" for idempotency checks."""
        return self.model_dump(mode="json", exclude_none=True)


class StepState(BaseModel):
    name: StepName
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    """While ``retrying``: when Temporal starts the next attempt (from the server's record)."""


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewRequest(_Strict):
    """The ``review_order`` Update's input: a person's decision on an order awaiting review."""

    decision: ReviewDecision
    reviewer: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    note: str | None = Field(None, max_length=500)


class ReviewState(BaseModel):
    """The review of an order at or above the threshold: its deadline and the decision."""

    deadline: datetime
    decision: ReviewDecision | None = None
    reviewer: str | None = None
    note: str | None = None
    decided_at: datetime | None = None


class ShipmentState(StrEnum):
    PACKING = "packing"
    PACKED = "packed"
    DISPATCHING = "dispatching"
    DISPATCHED = "dispatched"
    CANCELLED = "cancelled"
    """Stopped before dispatch and unpacked."""
    FAILED = "failed"


class ShipmentStatus(BaseModel):
    """The order's shipment (its child workflow) as the order knows it."""

    workflow_id: str
    state: ShipmentState
    tracking_number: str | None = None


class OrderLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderStatus(BaseModel):
    """What the ``status`` Query answers: the order as the workflow sees it right now."""

    order_id: str
    workflow_id: str
    customer_id: str
    customer_name: str | None = None
    state: OrderState = OrderState.PENDING
    current_step: StepName | None = None
    steps: list[StepState]
    lines: list[OrderLine] = Field(default_factory=list)
    total: Decimal | None = None
    currency: str = CURRENCY
    error: str | None = None
    cancel_reason: str | None = None
    cancellable: bool = True
    review: ReviewState | None = None
    shipment: ShipmentStatus | None = None
    created_at: datetime
    updated_at: datetime

    def step(self, name: StepName) -> StepState:
        return next(step for step in self.steps if step.name == name)


class CreateOrderResponse(BaseModel):
    order_id: str
    workflow_id: str
    state: OrderState
    status_url: str


# --- activity payloads -------------------------------------------------------------------


class ReserveInventoryInput(BaseModel):
    order_id: str
    workflow_id: str
    key_scope: str | None = None
    """What the side effects' idempotency keys are bound to (see :func:`key_scope`)."""
    items: list[OrderItem]
    fault: FaultSpec | None = None


class ReviewPolicy(BaseModel):
    """Set by the reservation when the total reaches the worker's review threshold."""

    threshold: Decimal
    timeout_seconds: float


class Reservation(BaseModel):
    lines: list[OrderLine]
    total: Decimal
    attempt: int = 1
    review: ReviewPolicy | None = None


class ChargePaymentInput(BaseModel):
    order_id: str
    workflow_id: str
    key_scope: str | None = None
    """What the side effects' idempotency keys are bound to (see :func:`key_scope`)."""
    customer_id: str
    amount: Decimal
    currency: str = CURRENCY
    fault: FaultSpec | None = None


class PaymentReceipt(BaseModel):
    payment_id: int
    amount: Decimal
    idempotency_key: str
    attempt: int = 1


class NotifyCustomerInput(BaseModel):
    order_id: str
    workflow_id: str
    key_scope: str | None = None
    """What the side effects' idempotency keys are bound to (see :func:`key_scope`)."""
    customer_id: str
    customer_name: str | None = None
    total: Decimal
    fault: FaultSpec | None = None


class NotificationReceipt(BaseModel):
    notification_id: int
    attempt: int = 1


class ShipmentRequest(BaseModel):
    """The shipment child's input."""

    order_id: str
    workflow_id: str
    """The order's workflow id (its keys are the order's)."""
    key_scope: str | None = None
    items: list[OrderItem]
    fault: FaultSpec | None = None


class ShipmentInput(BaseModel):
    """Input of the shipment activities (pack, unpack, dispatch)."""

    order_id: str
    workflow_id: str
    key_scope: str | None = None
    fault: FaultSpec | None = None


class ShipmentResult(BaseModel):
    state: ShipmentState
    tracking_number: str | None = None
    attempt: int = 1


class CompensationInput(BaseModel):
    order_id: str
    workflow_id: str
    key_scope: str | None = None
    """What the side effects' idempotency keys are bound to (see :func:`key_scope`)."""


class AttemptFailure(BaseModel):
    """Sent by the attempt-tracking interceptor so the Query shows retries live."""

    step: str
    attempt: int
    error_type: str
    message: str
    will_retry: bool


# --- store rows exposed to callers --------------------------------------------------------


class Product(BaseModel):
    sku: str
    name: str
    price: Decimal
    stock: int


class PaymentEntry(BaseModel):
    kind: PaymentKind
    amount: Decimal
    idempotency_key: str
    created_at: datetime


class AttemptRecord(BaseModel):
    workflow_id: str
    order_id: str
    step: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None
    outcome: AttemptOutcome
    error_type: str | None = None
    error_message: str | None = None
    worker: str | None = None


class OrderSummary(BaseModel):
    """One order in a list: what Temporal's visibility knows, without asking the workflow."""

    order_id: str
    workflow_id: str
    state: OrderState
    customer_id: str | None = None
    total: Decimal | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None


class Timeline(BaseModel):
    """Every recorded activity attempt of an order, in start order."""

    order_id: str
    workflow_id: str
    attempts: list[AttemptRecord]


class PaymentLedger(BaseModel):
    """An order's charges and refunds, and what they net to."""

    order_id: str
    workflow_id: str
    entries: list[PaymentEntry]
    net_charged: Decimal


class WorkflowDescription(BaseModel):
    """Temporal's own view of one execution (the original system's status route)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    task_queue: str
    start_time: datetime
    close_time: datetime | None = None
    history_length: int


# --- reconciliation -------------------------------------------------------------------------


class ReconcileRequest(BaseModel):
    """What one reconciler run looks at: closed orders of a task queue, recently closed."""

    task_queue: str = TASK_QUEUE
    lookback_seconds: float = Field(48 * 3600, gt=0)
    limit: int = Field(200, ge=1, le=1000)


class UnsettledOrder(BaseModel):
    """A closed order execution whose store rows still hold stock or money."""

    workflow_id: str
    order_id: str
    run_id: str
    key_scope: str | None
    """None: the order's keys are the bare workflow id (recorded before execution keys)."""
    closed_as: str
    """How Temporal closed the run: TERMINATED, TIMED_OUT, FAILED or CANCELED."""


class Repair(BaseModel):
    """What the reconciler gave back for one order execution."""

    workflow_id: str
    order_id: str
    run_id: str
    reason: str
    released: bool
    refunded: Decimal
    new: bool = True
    """False when an earlier run had already repaired it (nothing moved this time)."""
    repaired_at: datetime | None = None


class ReconcileReport(BaseModel):
    found: int
    """Closed orders that still held stock or money when the run looked."""
    repaired: list[Repair] = Field(default_factory=list)
