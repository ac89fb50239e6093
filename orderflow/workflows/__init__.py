"""The workflows of orderflow, one module each.

- :mod:`~orderflow.workflows.order` - ``OrderWorkflow``, the order saga.
- :mod:`~orderflow.workflows.shipment` - ``ShipmentWorkflow``, the order's parcel (a child).
- :mod:`~orderflow.workflows.reconcile` - ``ReconcileWorkflow``, run by a Schedule: gives
  back the stock and money of orders Temporal closed without letting them compensate.

The names are imported lazily (PEP 562), and that is a performance decision: the workflow
sandbox re-imports a workflow's module, parent package included, for every new workflow
run. With eager imports here every order run and every shipment run executed all three
modules again (measured with ``python -m bench.profile_worker``, see docs/performance.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orderflow.workflows.order import OrderWorkflow
    from orderflow.workflows.reconcile import ReconcileWorkflow
    from orderflow.workflows.shipment import ShipmentWorkflow

_MODULE_OF = {
    "OrderWorkflow": "order",
    "ReconcileWorkflow": "reconcile",
    "ShipmentWorkflow": "shipment",
}

__all__ = ["OrderWorkflow", "ReconcileWorkflow", "ShipmentWorkflow"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
