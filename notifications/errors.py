"""Domain errors of the notification service (rendered by the API views)."""

from config.errors import ApplicationError, ConflictError, NotFoundError


class RecipientNotFound(NotFoundError):
    default_code = "recipient_not_found"


class DeviceNotFound(NotFoundError):
    default_code = "device_not_found"


class DeviceConflict(ConflictError):
    default_code = "device_conflict"


class IdempotencyConflict(ConflictError):
    default_code = "idempotency_in_progress"


class BindingTokenInvalid(ApplicationError):
    """`reason` is one of: unknown, expired, used. For `used`, `same_account` tells the bot
    whether this very messenger account consumed it (a double-clicked confirm)."""

    default_code = "binding_token_invalid"

    def __init__(self, message: str, *, reason: str, same_account: bool = False):
        super().__init__(message, code=f"binding_token_{reason}", field="token")
        self.reason = reason
        self.same_account = same_account
