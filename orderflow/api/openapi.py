"""The OpenAPI schema as a contract: what FastAPI derives from the routes, completed with what
the routes cannot say about themselves.

- **Guards.** The middleware in front of every route answers 400 (a foreign ``Host``) and 413
  (a body over the limit) on any request, 403 (cross-site) and 415 (a body not declared as
  JSON) on state-changing ones. Each operation documents them, decided by its method with
  the middleware's own :data:`~orderflow.api.middleware.STATE_CHANGING`, so a new route gets
  them without saying so.
- **One error model.** Every error status documents the JSON ``{"detail": ...}`` body
  (:mod:`orderflow.api.responses`); an operation that takes a body documents 422.
- **Links.** The create response's ``order_id`` (and ``workflow_id``) feed every operation
  whose path parameters they fill, so clients and stateful fuzzers learn that
  ``POST /api/orders`` leads to ``GET /api/orders/{orderId}``, ``/cancel``, ``/timeline``,
  ``/payments``. The links are derived from the schema's paths: a per-order route gets its
  link by being declared, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from orderflow.api.middleware import MAX_BODY_BYTES, STATE_CHANGING
from orderflow.api.responses import ErrorBody, ValidationErrorBody

Schema = dict[str, Any]

GUARDS_ON_EVERY_REQUEST = {
    400: "The Host header names a host this server does not answer to (DNS-rebinding guard)",
    413: f"The request body is larger than {MAX_BODY_BYTES} bytes",
}
GUARDS_ON_STATE_CHANGES = {
    403: "A cross-site request (a foreign Origin, or Sec-Fetch-Site cross-site or same-site) "
    "may not change orders",
    415: "The body is not declared as JSON (send Content-Type: application/json)",
}
MALFORMED_BODY = "The body is not JSON or does not match the schema"

CREATE_OPERATION = "create_order"
"""The operation whose response the links start from."""
LINKED_FIELDS = {"orderId": "order_id", "workflowId": "workflow_id"}
"""Path parameter -> the field of the create response that fills it."""

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names (``create_order``, ``get_order``, ...):
    short, stable, and what a generated client names its methods."""
    return route.name


def contract_openapi(app: FastAPI) -> Callable[[], Schema]:
    """A replacement for ``app.openapi`` that completes FastAPI's schema (see module doc)."""
    generate = app.openapi

    def openapi() -> Schema:
        schema = generate()  # cached by FastAPI; completing it again changes nothing
        complete(schema)
        return schema

    return openapi


def complete(schema: Schema) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, ValidationErrorBody):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components.setdefault(model.__name__, definition)
    for method, operation in operations(schema):
        document_guards(method, operation)
    add_create_links(schema)


def operations(schema: Schema) -> list[tuple[str, Schema]]:
    return [
        (method, operation)
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def document_guards(method: str, operation: Schema) -> None:
    responses: Schema = operation.setdefault("responses", {})
    guards = dict(GUARDS_ON_EVERY_REQUEST)
    if method.upper() in STATE_CHANGING:
        guards |= GUARDS_ON_STATE_CHANGES
    for code, description in guards.items():
        responses.setdefault(str(code), {"description": description})
    if "requestBody" in operation:
        malformed = {"description": MALFORMED_BODY, **json_body(ValidationErrorBody)}
        responses.setdefault("422", malformed)
    for status, response in responses.items():
        if status[0] in "45" and "content" not in response:
            response.update(json_body(ErrorBody))


def json_body(model: type[Any]) -> Schema:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"content": {"application/json": {"schema": ref}}}


def add_create_links(schema: Schema) -> None:
    """Link the create's 201 and 200 answers to every operation its ids can address."""
    links: Schema = {}
    source: Schema | None = None
    for _method, operation in operations(schema):
        name = operation.get("operationId", "")
        if name == CREATE_OPERATION:
            source = operation
            continue
        path_parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if path_parameters and all(p in LINKED_FIELDS for p in path_parameters):
            links[name] = {
                "operationId": name,
                "parameters": {p: f"$response.body#/{LINKED_FIELDS[p]}" for p in path_parameters},
                "description": "The order just placed: "
                + ", ".join(f"`{LINKED_FIELDS[p]}` as `{p}`" for p in path_parameters),
            }
    if source is None or not links:
        return
    for status in ("201", "200"):
        if status in source["responses"]:
            source["responses"][status]["links"] = links
