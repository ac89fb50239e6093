"""Schemathesis hooks for the API's property-based tests (named by ``schemathesis.toml``).

A schema-valid create body is made acceptable to the server it is sent to, by the rules the
create route documents but a JSON schema cannot state, and nothing else:

- each item names a *different* product (a sku listed twice is refused), taken from
  ``ORDERFLOW_FUZZ_SKUS`` (comma-separated: the products the test made for the run, so the
  fuzzer never takes stock another test counts on), else the demo catalog;
- ``retry.maximum_interval`` is not below ``retry.initial_interval``.

Cases generated to be refused (negative mode) are sent exactly as generated. Every order
the server placed (201) is appended to ``ORDERFLOW_FUZZ_ORDERS`` when set, so the test can
cancel what the run left running.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import schemathesis

from orderflow.store import DEMO_CATALOG

CREATE = "POST /api/orders"
_written = threading.Lock()


def fuzz_skus() -> list[str]:
    listed = os.environ.get("ORDERFLOW_FUZZ_SKUS", "")
    return [sku for sku in listed.split(",") if sku] or [sku for sku, *_ in DEMO_CATALOG]


def is_positive(case: schemathesis.Case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    if case.operation.label != CREATE or not is_positive(case) or not isinstance(case.body, dict):
        return
    body = case.body
    items = body.get("items")
    if isinstance(items, list):
        skus = fuzz_skus()
        del items[len(skus) :]
        for item, sku in zip(items, skus, strict=False):
            if isinstance(item, dict):
                item["sku"] = sku
    retry = body.get("retry")
    if isinstance(retry, dict):
        initial = retry.get("initial_interval", 1.0)
        if retry.get("maximum_interval", 10.0) < initial:
            retry["maximum_interval"] = initial


@schemathesis.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response
) -> None:
    log = os.environ.get("ORDERFLOW_FUZZ_ORDERS")
    if not log or case.operation.label != CREATE or response.status_code != 201:
        return
    order_id = response.json().get("order_id")
    with _written, open(log, "a") as out:
        out.write(f"{order_id}\n")
