"""The workflows of orderflow, one module each.

- :mod:`~orderflow.workflows.order` - ``OrderWorkflow``, the order saga.
"""

from orderflow.workflows.order import OrderWorkflow

__all__ = ["OrderWorkflow"]
