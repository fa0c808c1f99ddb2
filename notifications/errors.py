"""Domain errors of the notification service (rendered by the API views)."""

from config.errors import ApplicationError


class BindingTokenInvalid(ApplicationError):
    """`reason` is one of: unknown, expired, used. For `used`, `same_account` tells the bot
    whether this very messenger account consumed it (a double-clicked confirm)."""

    default_code = "binding_token_invalid"

    def __init__(self, message: str, *, reason: str, same_account: bool = False):
        super().__init__(message, code=f"binding_token_{reason}", field="token")
        self.reason = reason
        self.same_account = same_account
