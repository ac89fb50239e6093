"""The workflows of orderflow, one module each.

- :mod:`~orderflow.workflows.order` - ``OrderWorkflow``, the order saga.
- :mod:`~orderflow.workflows.shipment` - ``ShipmentWorkflow``, the order's parcel (a child).
- :mod:`~orderflow.workflows.reconcile` - ``ReconcileWorkflow``, run by a Schedule: gives
  back the stock and money of orders Temporal closed without letting them compensate.
"""

from orderflow.workflows.order import OrderWorkflow
from orderflow.workflows.reconcile import ReconcileWorkflow
from orderflow.workflows.shipment import ShipmentWorkflow

__all__ = ["OrderWorkflow", "ReconcileWorkflow", "ShipmentWorkflow"]
