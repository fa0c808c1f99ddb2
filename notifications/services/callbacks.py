"""Signed status events to the calling service's `callback_url` (Standard Webhooks).

Events: `notification.delivered`, `notification.failed`, `notification.deferred`, `notification.unknown`. The body is
`{"type", "timestamp", "data": <the GET /notifications/{id} body>}`; headers `webhook-id`
(stable per notification and event, so retries can be de-duplicated), `webhook-timestamp`,
`webhook-signature` (v1, HMAC-SHA256 with the account's `whsec_` secret). Sent through the
hardened provider client (`communications.clients.post_json`: SSRF guard, no redirects, timeouts).
"""

import logging

from django.db import transaction
from django.utils import timezone

from communications.clients import (
    OutboundCallError,
    UnsafeTargetError,
    post_json,
    resolve_safe,
    webhook_secret_generate,
)
from config.api.errors import ApplicationError
from delivery.dispatch import dispatch_on_commit
from notifications.models import NotifyRequest, StatusCallback

logger = logging.getLogger(__name__)
EVENTS = ("notification.delivered", "notification.failed", "notification.deferred", "notification.unknown")


class CallbackRetry(Exception):
    """The receiver did not accept the event (5xx, 429, network): the task retries."""


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
    """After the commit, queue the event if the calling service has a callback URL."""
    if not notify.requested_by_id or not StatusCallback.objects.filter(account_id=notify.requested_by_id).exists():
        return
    from notifications.tasks_notify import status_callback_task

    # Robust and fail-fast like every dispatch: a broker outage never fails the caller. An event whose
    # publish fails is logged and not re-sent (events have no sweeper yet; GET /notifications/{id} has the state).
    dispatch_on_commit(status_callback_task, args=[str(notify.pk), event], label=f"status event {event}")


def status_event_send(*, notify_id, event: str) -> None:
    """One delivery of the event; raises CallbackRetry when worth retrying."""
    from notifications.selectors import notify_status

    notify = NotifyRequest.objects.select_related("recipient").get(pk=notify_id)
    callback = StatusCallback.objects.filter(account_id=notify.requested_by_id).first()
    if callback is None:
        return
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": notify_status(notify)}
    try:
        result = post_json(url=callback.url, payload=payload, idempotency_key=f"{notify.pk}:{event}",
                           signing_secrets=[callback.secret])
    except UnsafeTargetError as exc:
        logger.warning("status callback %s for %s refused: %s", event, notify.pk, exc)
        return
    except OutboundCallError as exc:
        raise CallbackRetry(str(exc))
    if result.ok:
        return
    if result.status_code >= 500 or result.status_code == 429:
        raise CallbackRetry(f"HTTP {result.status_code}")
    logger.warning("status callback %s for %s: HTTP %s, not retried", event, notify.pk, result.status_code)
