"""The domain errors services raise, and the one JSON error envelope they become (docs/public-api.md).

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}

No web framework here: services, tasks and the admin import it; `config/api/errors.py` renders these
errors (and every DRF/Django exception) as the envelope.
"""

from http import HTTPStatus


class ApplicationError(Exception):
    """A domain rule was broken. Raised by services, rendered by the handler."""

    status_code = HTTPStatus.BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 fields: dict | None = None, status_code: int | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = dict(fields or {})
        if field:
            self.fields.setdefault(field, [message])
        if status_code:
            self.status_code = status_code
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    status_code = HTTPStatus.NOT_FOUND
    default_code = "not_found"


class ConflictError(ApplicationError):
    status_code = HTTPStatus.CONFLICT
    default_code = "conflict"


class ForbiddenError(ApplicationError):
    status_code = HTTPStatus.FORBIDDEN
    default_code = "forbidden"


def envelope(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": body}
