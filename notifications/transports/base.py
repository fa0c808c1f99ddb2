"""One class per transport (email, push, Telegram, VK): everything that differs between them.

A transport owns its target lookup, rendering and length limits, its «not linked» text, the deactivation of a
dead address, the call itself and the classification of its answer into the delivery engine's outcomes.
Adding a transport = one module with a `@register`ed `Transport` subclass (imported in `transports/__init__.py`)
plus a `Service` choice value.
"""

import uuid
from dataclasses import dataclass, field

import requests
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from delivery.outcomes import AMBIGUOUS, PERMANENT, TRANSIENT, request_error_outcome
from notifications.rules import Rendered


class DeliveryError(Exception):
    """A failed delivery, classified (docs/notifications.md, «Исходы»).

    permanent: retrying cannot help (blocked bot, unknown chat, invalid subscription).
    ambiguous: the request may have arrived (read timeout, reset after sending): retried only by
        transports whose receiver drops duplicates (`Transport.drops_duplicates`), else `unknown`.
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


class Transport:
    """One delivery transport (the spec's «service»: email, push, telegram, vk). `send` raises DeliveryError or
    returns a Result."""

    service = ""
    # The receiver drops a repeated send (OneSignal idempotency_key, VK random_id): an ambiguous outcome
    # may be retried. Telegram and SMTP cannot tell a repeat: ambiguous becomes `unknown`.
    drops_duplicates = False
    # Shown (404) when the recipient has no address for this transport.
    not_linked_text = "Аккаунт {service} не привязан или отключён."
    # Why addresses the receiver rejected while taking the send were switched off.
    dead_address_reason = "адрес отклонён получателем"
    # (limit, what) of the formatted body; longer text is a 400, never cut silently.
    body_limit: tuple[int, str] | None = None

    # --- who and what ---------------------------------------------------------------------------
    def target(self, recipient) -> Target | None:
        """The addresses to send to, or None when the recipient is not linked. Default: the bot binding."""
        from notifications.models import ServiceBinding

        binding = ServiceBinding.objects.filter(recipient=recipient, service=self.service, is_active=True).first()
        return Target([binding.service_user_id]) if binding else None

    def target_annotations(self) -> dict:
        """Expressions that read the target in the recipient's own query (`/send`: one statement for both),
        for `target_annotated`. The bot binding's account id; none for a transport with its own `target`."""
        from notifications.models import ServiceBinding

        if type(self).target is not Transport.target:
            return {}
        binding = ServiceBinding.objects.filter(recipient=OuterRef("pk"), service=self.service, is_active=True)
        return {"bound_account": Subquery(binding.values("service_user_id")[:1])}

    def target_annotated(self, recipient) -> Target | None:
        """`target` of a recipient read with `target_annotations`."""
        if not hasattr(recipient, "bound_account"):
            return self.target(recipient)
        return Target([recipient.bound_account]) if recipient.bound_account else None

    def render(self, *, role: str, subject: str, type: str, message: str) -> Rendered:
        """Spec «Таблица форматов»: messengers get the subject and type as the first line."""
        return Rendered(title="", body=f"Тема: {subject} | {type}\n{message}")

    def limits(self, rendered: Rendered) -> list[tuple[str, int, str]]:
        """(text, limit, what) pairs checked after formatting."""
        return [(rendered.body, *self.body_limit)] if self.body_limit else []

    def length_error(self, rendered: Rendered) -> str | None:
        """A human-readable reason when the formatted message exceeds the transport's limits."""
        for text, limit, what in self.limits(rendered):
            if len(text) > limit:
                return f"{what[:1].upper()}{what[1:]} после форматирования длиннее {limit} символов ({len(text)})."
        return None

    def not_linked(self) -> str:
        return self.not_linked_text.format(service=self.service)

    def deactivate(self, recipient, addresses: list[str], *, reason: str) -> None:
        """A dead address (blocked bot, deleted chat): default, the bot binding is switched off."""
        from notifications.models import ServiceBinding

        if addresses:
            ServiceBinding.objects.filter(recipient=recipient, service=self.service).update(
                is_active=False, deactivated_reason=reason[:255], updated_at=timezone.now())

    # --- the call -------------------------------------------------------------------------------
    def rate_limits(self, target: Target) -> list[tuple[str, int]]:
        """(scope, per-second limit) pairs taken before each send, shared through Redis."""
        return []

    def send(self, *, notification_id: uuid.UUID, target: Target, rendered: Rendered) -> Result:
        raise NotImplementedError

    def record_sent(self, *, notification, target: Target, result: "Result", rendered: Rendered) -> None:
        """In the transaction that records a success: the transport's own history, if the spec wants one."""

    def outcome(self, error: DeliveryError) -> str:
        """The delivery engine's outcome of a failed send (docs/notifications.md, «Исходы»)."""
        return AMBIGUOUS if error.ambiguous else PERMANENT if error.permanent else TRANSIENT


_TRANSPORTS: dict[str, type[Transport]] = {}


def register(cls: type[Transport]) -> type[Transport]:
    _TRANSPORTS[cls.service] = cls
    return cls


def get_transport(service: str) -> Transport:
    try:
        return _TRANSPORTS[service]()
    except KeyError:
        raise LookupError(f"no notification transport {service!r}") from None
