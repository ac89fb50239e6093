"""Log lines for people (one line per event) and for log shippers (one JSON object per line).

The SDK's loggers append a dict of workflow or activity details to every message and log
every failed activity attempt with its full traceback. Under load that is most of a
worker's log volume (and, formatted through Rich, a sixth of its CPU), and it buries the
one line an operator wants: which order, which step, which attempt, what went wrong and
what happens next. Here:

- every kit message already names its order (``order 42: charged, payment 7``), so the
  SDK's details stay off the message and go to JSON fields instead;
- an *expected* activity failure (an :class:`~temporalio.exceptions.ApplicationError`
  whose type is one of :class:`~orderflow.models.ErrorType`: a declined card, a simulated
  gateway error) is logged as one line by the attempt tracker (:func:`attempt_failed_line`)
  and the SDK's traceback for it is dropped; anything else (a real bug) keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Literal

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from orderflow.models import ErrorType

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

EXPECTED_ERROR_TYPES = frozenset(error_type.value for error_type in ErrorType)
"""ApplicationError types the kit raises on purpose (business outcomes, simulated faults)."""

_SDK_FAILURE_MARK = "__temporal_error_identifier"
"""The ``extra`` key the SDK puts on its "Completing activity as failed" records."""

_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")


def configure(
    level: str | int = "INFO", log_format: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Route all logging to ``stream`` (stderr) in ``log_format``; returns the handler."""
    new = handler(log_format, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(new)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return new


def handler(log_format: LogFormat = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``log_format`` lines to ``stream``, expected failures as one line."""
    new = logging.StreamHandler(stream or sys.stderr)
    new.setFormatter(formatter(log_format))
    new.addFilter(ExpectedFailureFilter())
    keep_sdk_details_off_messages()
    return new


def formatter(log_format: LogFormat = "text") -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def keep_sdk_details_off_messages() -> None:
    """The SDK's workflow/activity details go to ``extra`` (JSON fields), not the message."""
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def is_expected(error: BaseException | None) -> bool:
    """An error the kit raises on purpose: logged as one line, without a traceback."""
    return isinstance(error, ApplicationError) and error.type in EXPECTED_ERROR_TYPES


class ExpectedFailureFilter(logging.Filter):
    """Drop the SDK's traceback record for an expected activity failure.

    The attempt tracker has already logged that attempt as one line; a real bug (any other
    exception) still reaches the log with its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SDK_FAILURE_MARK, None) != "ActivityFailure" or not record.exc_info:
            return True
        return not is_expected(record.exc_info[1])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the SDK's workflow/activity
    details as fields, and the traceback (only real bugs have one) as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for extra in _TEMPORAL_EXTRAS:
            details = getattr(record, extra, None)
            if isinstance(details, dict):
                line.update({key: value for key, value in details.items() if value is not None})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def attempt_failed_line(
    order_id: str, step: str, attempt: int, error: BaseException, retry: RetryPolicy | None
) -> str:
    """``order 42: charge_payment attempt 2 failed: TransientFailure: gateway timed out
    (retry in 2 s)``: what failed and what Temporal does next."""
    kind = (
        error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
    )
    message = error.message if isinstance(error, ApplicationError) else str(error)
    return (
        f"order {order_id}: {step} attempt {attempt} failed: {kind}: {message} "
        f"({next_step(attempt, error, retry)})"
    )


def next_step(attempt: int, error: BaseException, retry: RetryPolicy | None) -> str:
    """What the retry policy does after this failed attempt, in words."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return "not retried"
    if retry is None:
        return "retried by the server's default policy"
    if isinstance(error, ApplicationError) and error.type in (
        retry.non_retryable_error_types or ()
    ):
        return "not retried"
    if retry.maximum_attempts and attempt >= retry.maximum_attempts:
        return f"no attempts left of {retry.maximum_attempts}"
    if isinstance(error, ApplicationError) and error.next_retry_delay is not None:
        delay = error.next_retry_delay
    else:
        factor = retry.backoff_coefficient ** (attempt - 1)
        delay = retry.initial_interval * factor
        if retry.maximum_interval is not None:
            delay = min(delay, retry.maximum_interval)
    return f"retry in {_seconds(delay)}"


def _seconds(delay: timedelta) -> str:
    seconds = delay.total_seconds()
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
