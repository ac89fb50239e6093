"""The workflows of orderflow, one module each.

- :mod:`~orderflow.workflows.order` - ``OrderWorkflow``, the order saga.
- :mod:`~orderflow.workflows.reconcile` - ``ReconcileWorkflow``, run by a Schedule: gives
  back the stock and money of orders Temporal closed without letting them compensate.
"""

from orderflow.workflows.order import OrderWorkflow
from orderflow.workflows.reconcile import ReconcileWorkflow

__all__ = ["OrderWorkflow", "ReconcileWorkflow"]
