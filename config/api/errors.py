"""One JSON error envelope for every 4xx/5xx answer.

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}

Services raise `ApplicationError` (or a subclass, `config/errors.py`); the handler maps it and every
DRF/Django exception to the envelope.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.db import is_lock_race
from config.errors import (  # noqa: F401  (the API layer's names for them)
    ApplicationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    envelope,
)
from config.text import unstorable_reason

logger = logging.getLogger(__name__)


def _normalise(detail) -> dict | list | str:
    if isinstance(detail, dict):
        return {key: _normalise(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_normalise(item) for item in detail]
    return str(detail)


def _validation_fields(detail) -> dict:
    if isinstance(detail, dict):
        return _normalise(detail)
    return {"non_field_errors": _normalise(detail if isinstance(detail, list) else [detail])}


def _database_busy(exc: OperationalError) -> Response:
    """503 + Retry-After for a transient database failure. The request's transaction was rolled back."""
    if is_lock_race(exc):
        logger.warning("request lost a database lock race (sqlstate %s); asked the client to retry",
                       exc.__cause__.sqlstate)
        body = envelope("concurrent_update", "Запрос столкнулся с параллельным изменением тех же данных и не "
                                             "выполнен; повторите его.")
    else:
        logger.exception("database unavailable", exc_info=exc)
        body = envelope("database_unavailable", "База данных временно недоступна; повторите запрос позже.")
    return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(envelope(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, RequestDataTooBig):
        return Response(envelope("payload_too_large", "Тело запроса слишком большое."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, OperationalError):
        return _database_busy(exc)
    request = context.get("request")
    if isinstance(exc, DataError) and request is not None and "\x00" in request.path:
        # an id in the URL with U+0000: PostgreSQL refuses even to look it up
        return Response(envelope("validation_error", "Некорректные данные запроса.",
                                 {"path": [unstorable_reason("\x00", "Путь")]}), status=status.HTTP_400_BAD_REQUEST)

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            envelope("server_error", "Внутренняя ошибка сервера."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        response.data = envelope("validation_error", "Некорректные данные запроса.", _validation_fields(exc.detail))
    else:
        code = getattr(exc, "default_code", "error")
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        if isinstance(codes, str):
            code = codes
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        message = str(detail) if not isinstance(detail, (dict, list)) else "Ошибка запроса."
        extra = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after"] = int(exc.wait) + 1
        response.data = envelope(code, message, **extra)
    return response
