"""`POST /notifications/notify`: the service chooses the channels.

Channels: the recipient's bound and active ones that their preferences allow, in
NOTIFICATIONS_FALLBACK_ORDER. Policy per type (NOTIFICATIONS_TYPE_POLICY): `first_success` tries the
next channel only after the previous one failed for good or is unavailable; `all` sends to each.
Quiet hours defer non-mandatory types to the end of the user's window; mandatory types go at once.

Each channel try goes through `_channel_send`, the ONE call into the delivery code
(`sending.notification_send`, synchronous, with a per-channel idempotency key), so a re-run of
the dispatch never sends a channel twice and the delivery engine can be swapped in under it.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.broker import publish_fail_fast
from config.errors import ApplicationError
from notifications.models import Notification, NotifyRequest, Recipient, Role, Service, ServiceBinding
from notifications.rules import MANDATORY_TYPES, type_allowed
from notifications.selectors import active_device_ids, recipient_get
from notifications.services.callbacks import status_event_enqueue
from notifications.services.preferences import channel_enabled
from notifications.services.sending import notification_send

logger = logging.getLogger(__name__)
Status = NotifyRequest.Status
LEASE = timedelta(minutes=5)  # a dispatch not finished by then is taken over by `notify_due`


def quiet_hours_end(*, recipient: Recipient, now: datetime) -> datetime | None:
    """The end of the recipient's quiet window if `now` is inside it, else None."""
    quiet = getattr(recipient, "quiet_hours", None)
    if quiet is None:
        return None
    tz = ZoneInfo(quiet.timezone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside, end_date = quiet.start <= t < quiet.end, local.date()
    else:  # crosses midnight, e.g. 23:00–08:00
        inside = t >= quiet.start or t < quiet.end
        end_date = local.date() + timedelta(days=1) if t >= quiet.start else local.date()
    return datetime.combine(end_date, quiet.end, tzinfo=tz) if inside else None


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def notify_create(*, requested_by, user_id, type: str, subject: str, message: str,
                  idempotency_key: str = "") -> NotifyRequest:
    """Accept a notify request (202). A repeat with the same key and body returns the first row."""
    fingerprint = _fingerprint(user_id, type, subject, message)
    if idempotency_key:
        existing = NotifyRequest.objects.filter(requested_by=requested_by, idempotency_key=idempotency_key).first()
        if existing:
            return _replay(existing, fingerprint)
    recipient = recipient_get(recipient_id=user_id)
    if not type_allowed(role=recipient.role, type=type):
        raise ApplicationError(f"Тип «{type}» недоступен для роли «{Role(recipient.role).label}».", field="type")
    now = timezone.now()
    deliver_after = None if type in MANDATORY_TYPES else quiet_hours_end(recipient=recipient, now=now)
    try:
        with transaction.atomic():
            notify = NotifyRequest.objects.create(
                recipient=recipient, type=type, subject=subject, message=message, requested_by=requested_by,
                policy=settings.NOTIFICATIONS_TYPE_POLICY.get(type, NotifyRequest.Policy.FIRST_SUCCESS),
                channel_order=list(settings.NOTIFICATIONS_FALLBACK_ORDER),
                status=Status.DEFERRED if deliver_after else Status.PENDING, deliver_after=deliver_after,
                idempotency_key=idempotency_key, request_fingerprint=fingerprint)
            if deliver_after:
                status_event_enqueue(notify=notify, event="notification.deferred")
            else:
                transaction.on_commit(lambda: _enqueue(notify.pk))
    except IntegrityError:  # a concurrent request with the same key won
        winner = NotifyRequest.objects.filter(requested_by=requested_by, idempotency_key=idempotency_key).first()
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    return notify


def _replay(existing: NotifyRequest, fingerprint: str) -> NotifyRequest:
    if existing.request_fingerprint != fingerprint:
        raise ApplicationError("idempotency_key уже использован с другим телом запроса.", field="idempotency_key")
    return existing


def _enqueue(notify_id) -> None:
    """Hand the dispatch to Celery; with the broker down `notify_due` picks it up later."""
    from notifications.tasks_notify import notify_dispatch_task

    if notify_dispatch_task.app.conf.task_always_eager:
        notify_dispatch_task.apply_async(args=[str(notify_id)])
        return
    try:
        publish_fail_fast(notify_dispatch_task, args=[str(notify_id)])
    except Exception:
        logger.warning("notify %s: dispatch to the broker failed; notify_due will run it", notify_id, exc_info=True)


def _available(recipient: Recipient, channel: str) -> bool:
    if channel == Service.EMAIL:
        return bool(recipient.email)
    if channel == Service.PUSH:
        return bool(active_device_ids(recipient=recipient))
    return ServiceBinding.objects.filter(recipient=recipient, service=channel, is_active=True).exists()


def _channel_send(notify: NotifyRequest, channel: str) -> Notification:
    """The one call into the delivery engine: an asynchronous send of this channel, keyed per channel.

    A re-run of the dispatch replays the channel's row instead of sending it again. The engine retries
    transient failures on its own schedule; when the row is final, `sending` runs the dispatch again.
    """
    notification = notification_send(
        requested_by=notify.requested_by, user_id=notify.recipient_id, service=channel, subject=notify.subject,
        type=notify.type, message=notify.message, idempotency_key=f"notify:{notify.pk}:{channel}", is_async=True,
        notify_request=notify)
    notification.refresh_from_db(fields=["status"])
    return notification


def notify_dispatch(*, notify_id) -> None:
    """Walk the channels in order (Celery task body); run again whenever one of its sends ends.

    first_success: the next channel is tried only after the previous one failed for good (a refusal,
    or retries exhausted) or is unavailable; a send that may have arrived (`unknown`) stops the walk,
    so the user never gets it twice. all: every available channel is sent at once.
    """
    now = timezone.now()
    claimed = NotifyRequest.objects.filter(pk=notify_id, status=Status.PENDING).exclude(
        lease_until__gt=now).update(lease_until=now + LEASE)
    if not claimed:
        return  # finished, deferred, or another worker is on it
    notify = NotifyRequest.objects.select_related("recipient", "requested_by").get(pk=notify_id)
    recipient, skipped, outcomes, waiting = notify.recipient, [], set(), []
    first_success = notify.policy == NotifyRequest.Policy.FIRST_SUCCESS
    for channel in notify.channel_order:
        if not channel_enabled(recipient=recipient, type=notify.type, channel=channel):
            skipped.append({"channel": channel, "reason": "muted"})
            continue
        if not _available(recipient, channel):
            skipped.append({"channel": channel, "reason": "not_linked"})
            continue
        try:
            attempt = _channel_send(notify, channel)
        except ApplicationError as exc:  # e.g. too long for this channel: the next one may take it
            skipped.append({"channel": channel, "reason": "invalid", "error": exc.message})
            continue
        if attempt.status == Notification.Status.PENDING:
            waiting.append(attempt.pk)
        outcomes.add(attempt.status)
        if first_success and attempt.status != Notification.Status.FAILED:
            break  # delivered, may have arrived, or still trying: no fallback yet
    if waiting:
        NotifyRequest.objects.filter(pk=notify.pk).update(skipped=skipped, lease_until=None)
        # a send that ended while we held the lease could not start us again: look once more
        if Notification.objects.filter(pk__in=waiting).exclude(status=Notification.Status.PENDING).exists():
            _enqueue(notify.pk)
        return
    if Notification.Status.SENT in outcomes:
        notify.status, event = Status.DELIVERED, "notification.delivered"
    elif Notification.Status.UNKNOWN in outcomes:
        notify.status, event = Status.UNKNOWN, "notification.unknown"
    else:
        notify.status, event = Status.FAILED, "notification.failed"
    with transaction.atomic():
        notify.skipped, notify.finished_at, notify.lease_until = skipped, timezone.now(), None
        notify.save(update_fields=["status", "skipped", "finished_at", "lease_until"])
        status_event_enqueue(notify=notify, event=event)
    logger.info("notify %s: %s", notify.pk, notify.status)


def notify_send_finished(*, notify_id) -> None:
    """`sending` calls this when a send of a notify request has ended: walk its channels again."""
    transaction.on_commit(partial(_enqueue, notify_id), robust=True)


def notify_due() -> int:
    """Periodic: release deferred rows whose quiet hours ended, and re-run dispatches that were lost."""
    now = timezone.now()
    released = list(NotifyRequest.objects.filter(status=Status.DEFERRED, deliver_after__lte=now)
                    .values_list("pk", flat=True)[:500])
    NotifyRequest.objects.filter(pk__in=released, status=Status.DEFERRED).update(status=Status.PENDING)
    stuck = list(NotifyRequest.objects.filter(status=Status.PENDING, created_at__lte=now - timedelta(minutes=2))
                 .exclude(lease_until__gt=now).exclude(pk__in=released).values_list("pk", flat=True)[:500])
    for pk in [*released, *stuck]:
        _enqueue(pk)
    return len(released) + len(stuck)
