import uuid
from dataclasses import dataclass, field

from notifications.rules import Rendered


class DeliveryError(Exception):
    """A failed delivery.

    permanent: retrying cannot help (blocked bot, unknown chat, invalid subscription).
    deactivate: the target ids (chat/peer/device) are dead and must be marked inactive.
    retry_after: seconds the remote asked us to wait (429), else None.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None,
                 deactivate: list[str] | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.deactivate = deactivate or []


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

    def rate_limits(self, target: Target) -> list[tuple[str, int]]:
        """(scope, per-second limit) pairs taken before each send, shared through Redis."""
        return []

    def send(self, *, notification_id: uuid.UUID, target: Target, rendered: Rendered) -> Result:
        raise NotImplementedError
