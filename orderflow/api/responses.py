"""The API's error contract: the JSON body of every refusal, the statuses routes document,
and the exception handlers that answer them.

Every error is ``{"detail": ...}``: one sentence, or, for a request that does not match the
schema, a list of ``{"loc", "msg", "type"}`` (422; the offending input is never echoed back).
A body that cannot be read as JSON at all (a syntax error, bytes that are not UTF-8, nesting
too deep to parse) is such a schema mismatch too: **422** on every route, with ``type``
``json_invalid``, never FastAPI's bare 400 "error parsing the body".

The documentation of each route's statuses is built from the same tables the handlers use
(:data:`STATUS_BY_ERROR`, :data:`TEMPORAL_STATUS`), so the schema and the answers cannot
drift apart; :mod:`orderflow.api.openapi` adds what the guards in front of every route can
answer (400, 403, 413, 415).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from temporalio.service import RPCError, RPCStatusCode

from orderflow import errors

logger = logging.getLogger(__name__)

UNPROCESSABLE = 422  # Unprocessable Content; its constant's name varies by Starlette version


class ErrorBody(BaseModel):
    """Every refusal that is not a schema mismatch."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "order 'demo-1' not found"}]}
    )
    detail: str = Field(description="What is wrong, in one sentence.")


class ValidationProblem(BaseModel):
    """One way the request does not match the schema."""

    loc: list[str | int] = Field(description='Where: ``["body", "items", 0, "quantity"]``.')
    msg: str = Field(description="What is wrong there.")
    type: str = Field(description="A stable code: ``missing``, ``json_invalid``, ...")


class ValidationErrorBody(BaseModel):
    """A request that does not match the schema (422)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "loc": ["body", "items", 0, "quantity"],
                            "msg": "Input should be greater than or equal to 1",
                            "type": "greater_than_equal",
                        }
                    ]
                }
            ]
        },
    )
    detail: list[ValidationProblem]


class RefusedOrderBody(BaseModel):
    """A create that was refused: a schema mismatch (a list) or a business rule (a sentence)."""

    detail: list[ValidationProblem] | str = Field(
        description="A list of problems when the body does not match the schema; a sentence "
        "when it does but cannot be accepted (unknown product, fault plans disabled)."
    )


STATUS_BY_ERROR: dict[type[errors.OrderError], int] = {
    errors.OrderNotFoundError: 404,
    errors.OrderConflictError: 409,
    errors.NotCancellableError: 409,
    errors.NotAwaitingReviewError: 409,
    errors.InvalidOrderError: UNPROCESSABLE,
    errors.TemporalUnavailableError: 503,
    errors.NoWorkerError: 503,
}
TEMPORAL_STATUS = {
    RPCStatusCode.UNAVAILABLE: 503,
    RPCStatusCode.RESOURCE_EXHAUSTED: 503,
    RPCStatusCode.DEADLINE_EXCEEDED: 504,
    RPCStatusCode.CANCELLED: 504,
}
TEMPORAL_OTHER = 502
"""Any other error Temporal answers with (a bug or a misconfiguration, not the caller's)."""


# --- what routes document ------------------------------------------------------------------

Responses = dict[int | str, dict[str, Any]]


def error(status: int, description: str, model: type[BaseModel] = ErrorBody) -> Responses:
    """One documented error status with its JSON body."""
    return {status: {"model": model, "description": description}}


def invalid(description: str = "The path, query or body does not match the schema") -> Responses:
    return error(UNPROCESSABLE, description, ValidationErrorBody)


NOT_FOUND = error(404, "No such order")
TEMPORAL_ERRORS: Responses = {
    **error(502, "Temporal answered with an unexpected error"),
    **error(503, "Temporal is unavailable, or no worker answered for the order"),
    **error(504, "Temporal did not answer in time"),
}
"""What any route that asks Temporal can answer (see :data:`TEMPORAL_STATUS`)."""


# --- the handlers ------------------------------------------------------------------------------


def add_error_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise onto the error contract above."""
    app.add_exception_handler(errors.OrderError, order_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RPCError, temporal_error)
    app.add_exception_handler(Exception, unexpected)


async def order_error(_request: Request, error: Exception) -> JSONResponse:
    code = next(
        (code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)),
        400,
    )
    return JSONResponse({"detail": str(error)}, status_code=code)


async def invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return problems_response(
        {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
        for item in error.errors()
    )


def problems_response(problems: Any) -> JSONResponse:
    return JSONResponse({"detail": list(problems)}, status_code=UNPROCESSABLE)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's and FastAPI's own refusals, kept to the contract.

    - A body FastAPI could not decode answers 400 with a bare sentence; it is a 422 like
      any other malformed JSON here (see the module docstring).
    - A wrong method answers 405 with an ``Allow`` header that lists every method the path
      serves. Starlette lists only the methods of the first route whose path matched, so
      ``OPTIONS /api/orders`` said ``Allow: POST`` although the path also serves GET.
    """
    assert isinstance(error, HTTPException)
    unreadable = unreadable_body(error)
    if unreadable is not None:
        return problems_response([{"loc": ["body"], "msg": unreadable, "type": "json_invalid"}])
    if error.status_code == 405:
        headers = dict(error.headers or {})
        named = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
        allowed = set(allowed_methods(request)) | named
        headers["Allow"] = ", ".join(m for m in PROBED_METHODS if m in allowed)
        error = HTTPException(405, error.detail, headers=headers)
    return await http_exception_handler(request, error)


def unreadable_body(error: HTTPException) -> str | None:
    """Why FastAPI could not decode the JSON body behind ``error``; None for other errors.

    FastAPI answers a ``json.JSONDecodeError`` with a 422 itself; other failures of
    ``json.loads`` (bytes that are not UTF-8, too deep a nesting) become a 400 that carries
    the original exception as its cause.
    """
    cause = error.__cause__
    if error.status_code != 400:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON text (it is not UTF-8)"
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    if isinstance(cause, ValueError):
        return "the body is not valid JSON"
    return None


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path (the one that answered 405
    names its own in its ``Allow``; the others are found here).

    Asked of the router itself (``matches`` on a clean copy of the request per method), so
    routes of included routers count and nothing here knows how FastAPI nests them. Mounts
    (the console's static files) match any method and answer 405 themselves: skipped.
    """
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = []
    for method in PROBED_METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def temporal_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RPCError)
    code = TEMPORAL_STATUS.get(error.status, TEMPORAL_OTHER)
    logger.warning(
        "Temporal answered %s to %s %s: %s",
        error.status.name, request.method, request.url.path, error.message,
    )  # fmt: skip
    return JSONResponse(
        {"detail": f"Temporal error ({error.status.name}): {error.message}"}, status_code=code
    )


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)
