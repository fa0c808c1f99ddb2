import uuid
from dataclasses import dataclass, field

import requests

from delivery.outcomes import AMBIGUOUS, request_error_outcome
from notifications.rules import Rendered


class DeliveryError(Exception):
    """A failed delivery, classified (docs/notifications.md, «Исходы»).

    permanent: retrying cannot help (blocked bot, unknown chat, invalid subscription).
    ambiguous: the request may have arrived (read timeout, reset after sending): retried only by
        channels whose receiver drops duplicates (`Channel.drops_duplicates`), else `unknown`.
    Neither: transient (5xx, 429, SMTP 4xx, connection refused), retried.
    deactivate: the target ids (chat/peer/device) are dead and must be marked inactive.
    retry_after: seconds the remote asked us to wait (429), else None.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None,
                 deactivate: list[str] | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous and not permanent
        self.retry_after = retry_after
        self.deactivate = deactivate or []


def request_error(label: str, exc: requests.RequestException) -> DeliveryError:
    """Transient when the request surely never left (refused, DNS, connect timeout), else ambiguous."""
    ambiguous = request_error_outcome(exc) == AMBIGUOUS
    return DeliveryError(f"{label} недоступен: {exc.__class__.__name__}", permanent=False, ambiguous=ambiguous)


@dataclass
class Target:
    """Where to deliver: an email address, a chat/peer id, or the device ids."""

    addresses: list[str]


@dataclass
class Result:
    external_id: str = ""
    # Devices the provider rejected while still delivering to the others.
    dead_addresses: list[str] = field(default_factory=list)


class Channel:
    """One delivery channel. `send` raises DeliveryError or returns a Result."""

    service = ""
    # The receiver drops a repeated send (OneSignal idempotency_key, VK random_id): an ambiguous outcome
    # may be retried. Telegram and SMTP cannot tell a repeat: ambiguous becomes `unknown`.
    drops_duplicates = False

    def rate_limits(self, target: Target) -> list[tuple[str, int]]:
        """(scope, per-second limit) pairs taken before each send, shared through Redis."""
        return []

    def send(self, *, notification_id: uuid.UUID, target: Target, rendered: Rendered) -> Result:
        raise NotImplementedError
