"""Signed status events to the calling service's `callback_url` (Standard Webhooks).

Events: `notification.delivered`, `notification.failed`, `notification.deferred`, `notification.unknown`. The body is
`{"type", "timestamp", "data": <the GET /notifications/{id} body>}`; headers `webhook-id`
(stable per notification and event, so retries can be de-duplicated), `webhook-timestamp`,
`webhook-signature` (v1, HMAC-SHA256 with the account's `whsec_` secret). Each event is a row of the
delivery engine (`communications.Delivery`, kind `callback`), sent by its worker through the hardened
client (SSRF guard, no redirects, timeouts) with the engine's outcome rules (docs/delivery-engine.md).
"""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from communications.clients import OutboundCallError, resolve_safe, webhook_secret_generate
from communications.services.deliveries import delivery_enqueue_callback
from config.errors import ApplicationError
from notifications.models import NotifyRequest, StatusCallback

logger = logging.getLogger(__name__)
EVENT_NAMESPACE = uuid.UUID("5b0f3a52-8f0e-4c55-9d3e-3c1f3e1b7a10")  # event ids: uuid5(namespace, "<id>:<event>")
EVENTS = ("notification.delivered", "notification.failed", "notification.deferred", "notification.unknown")


def status_callback_set(*, account, url: str, rotate_secret: bool = False) -> tuple[StatusCallback, str | None]:
    """Set the account's callback URL. Returns (row, secret) — the secret only when new or rotated."""
    try:
        resolve_safe(url)
    except OutboundCallError as exc:
        raise ApplicationError(f"Адрес недопустим: {exc}", field="callback_url")
    with transaction.atomic():
        row = StatusCallback.objects.select_for_update().filter(account=account).first()
        secret = None
        if row is None:
            secret = webhook_secret_generate()
            row = StatusCallback.objects.create(account=account, url=url, secret=secret)
        else:
            row.url = url
            if rotate_secret:
                secret = row.secret = webhook_secret_generate()
            row.save()
    logger.info("status callback of %s set%s", account, " (secret rotated)" if rotate_secret else "")
    return row, secret


def status_event_enqueue(*, notify: NotifyRequest, event: str) -> None:
    """Queue the event, in the caller's transaction, if the calling service has a callback URL.

    The event is a row of the delivery engine (kind `callback`): sent after commit, retried by the
    engine's policy, swept if its dispatch or worker was lost, visible and retryable in the admin.
    Its body is the notification's state now, when the event happens.
    """
    from notifications.selectors import notify_status

    callback = StatusCallback.objects.filter(account_id=notify.requested_by_id).first() if notify.requested_by_id \
        else None
    if callback is None:
        return
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": notify_status(notify)}
    delivery_enqueue_callback(url=callback.url, secret=callback.secret, event=event, payload=payload,
                              event_key=uuid.uuid5(EVENT_NAMESPACE, f"{notify.pk}:{event}"),
                              ordering_key=f"notify:{notify.pk}")
