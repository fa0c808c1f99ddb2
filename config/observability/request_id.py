"""One request id from the API entry to the provider call.

The id lives in a context variable: the middleware sets it for a request, the Celery signals
(config/observability/celery_signals.py) carry it in task headers and set it in the worker, the
outbox stores it on the delivery row and the HTTP client sends it as `X-Request-Id`.
"""

import json
import logging
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-Id"
_META_KEY = "HTTP_X_REQUEST_ID"
# Accepted from clients as is; anything else (too long, spaces, control characters) is replaced.
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
NONE = "-"

_request_id: ContextVar[str] = ContextVar("request_id", default=NONE)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_clean(value) -> str | None:
    """`value` if it is an acceptable request id, else None."""
    if isinstance(value, str) and _VALID.match(value):
        return value
    return None


def request_id_get() -> str:
    """The current request id, or "" outside any request/task."""
    value = _request_id.get()
    return "" if value == NONE else value


def request_id_set(value: str | None):
    """Set the current id; returns the token for `request_id_reset`."""
    return _request_id.set(request_id_clean(value) or NONE)


def request_id_reset(token) -> None:
    _request_id.reset(token)


def request_id_bind(value: str | None) -> None:
    """Adopt `value` (e.g. a delivery row's id) for the rest of the current task, when it is set."""
    if request_id_clean(value):
        _request_id.set(value)


@contextmanager
def request_id_scope(value: str | None = None):
    """Run a block (a bot update, a management command) under `value` or a fresh id."""
    token = request_id_set(request_id_clean(value) or request_id_new())
    try:
        yield request_id_get()
    finally:
        request_id_reset(token)


class RequestIdMiddleware:
    """Accept a valid `X-Request-Id` or generate one; return it on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        value = request_id_clean(request.META.get(_META_KEY)) or request_id_new()
        token = request_id_set(value)
        request.request_id = value
        try:
            response = self.get_response(request)
            response[HEADER] = value
            return response
        finally:
            request_id_reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`; attach it to handlers (a logger filter misses child loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs 4xx/5xx after the middleware chain has returned: take the id from the request.
            record.request_id = getattr(getattr(record, "request", None), "request_id", None) or _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`LOG_FORMAT=json`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NONE),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
