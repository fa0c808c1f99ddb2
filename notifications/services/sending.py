"""`notification_send`: validate, record, deliver (now or through Celery).

Every accepted request becomes a `Notification` row before anything is sent, so a
failure is never lost. `http_status` is the answer given to the caller (200, 202,
404, 500). An Idempotency-Key retry replays final answers (200, 202, 4xx, and 500 for
`unknown`); after a provider failure (500, `failed`) the same key tries the same row again.
Outcomes (docs/notifications.md, «Исходы»): success, permanent, transient, ambiguous — the
last is retried only by channels that drop duplicates, else the row becomes `unknown`.
"""

import hashlib
import json
import logging
import time
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.api.errors import ApplicationError
from config.observability.metrics import notification_observe
from delivery import policy
from delivery.dispatch import dispatch
from notifications.channels import DeliveryError, Target, get_channel
from notifications.models import (
    BindingService,
    Device,
    Notification,
    PushHistory,
    Recipient,
    Role,
    Service,
    ServiceBinding,
)
from notifications.ratelimit import acquire_all
from notifications.rules import length_error, render, type_allowed
from notifications.selectors import active_device_ids, notification_get_by_key, recipient_get

logger = logging.getLogger(__name__)
Status = Notification.Status


def notification_send(*, requested_by, user_id, service: str, subject: str, type: str, message: str,
                      idempotency_key: str = "", is_async: bool = False, notify_request=None) -> Notification:
    """Record the notification and deliver it (sync) or enqueue it (async). Returns the row.

    Raises RecipientNotFound (404) and ApplicationError (400) before recording anything.
    A known recipient without an address for the service gets a FAILED row with http_status 404.
    """
    fingerprint = _fingerprint(user_id, service, subject, type, message, is_async)
    existing = notification_get_by_key(requested_by=requested_by, idempotency_key=idempotency_key)
    if existing:
        return _replay_or_retry(existing, fingerprint)

    recipient = recipient_get(recipient_id=user_id)
    if not type_allowed(role=recipient.role, type=type):
        raise ApplicationError(
            f"Тип «{type}» недоступен для роли «{Role(recipient.role).label}».", field="type")
    problem = length_error(service=service, rendered=_render(recipient, service, subject, type, message))
    if problem:
        raise ApplicationError(problem, field="message")

    fields = dict(recipient=recipient, service=service, subject=subject, type=type, message=message,
                  requested_by=requested_by, idempotency_key=idempotency_key,
                  request_fingerprint=fingerprint, is_async=is_async, notify_request=notify_request)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(**fields)
            if _target(notification) is None:
                _finish(notification, status=Status.FAILED, http_status=404, error=_not_linked_text(service))
                return notification
            if is_async:
                notification.http_status = 202
                notification.next_attempt_at = timezone.now()
                notification.save(update_fields=["http_status", "next_attempt_at"])
                transaction.on_commit(partial(_enqueue, notification.pk), robust=True)
                return notification
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        winner = notification_get_by_key(requested_by=requested_by, idempotency_key=idempotency_key)
        if winner is None:
            raise
        return _replay_or_retry(winner, fingerprint)
    return _deliver_sync(notification)


def notification_deliver(*, notification_id) -> None:
    """Celery path: one attempt for a due PENDING row; schedules the retry or finishes it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.NOTIFICATIONS_CHANNEL_TIMEOUT * 3)
    claimed = Notification.objects.filter(
        pk=notification_id, status=Status.PENDING, next_attempt_at__lte=now + timedelta(seconds=1),
    ).update(next_attempt_at=lease)
    if not claimed:
        return  # already final, or another worker holds it, or not due yet
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    error = _attempt(notification)
    if error is None or notification.status != Status.PENDING:
        return
    if error.permanent or notification.attempts >= policy.max_attempts("notification"):
        _finish(notification, status=Status.FAILED, error=str(error))
        return
    # The wait the channel asked for (429, a shared rate-limit window) as is; otherwise the kind's schedule.
    countdown = error.retry_after if error.retry_after is not None else policy.retry_delay(
        "notification", notification.attempts)
    countdown = min(max(countdown, 0.5), settings.CELERY_MAX_COUNTDOWN)
    notification.next_attempt_at = timezone.now() + timedelta(seconds=countdown)
    notification.save(update_fields=["next_attempt_at"])
    _enqueue(notification.pk, countdown=countdown)


def notifications_sweep() -> int:
    """Periodic outbox sweep: re-enqueue async rows that are due but stuck, close abandoned sync rows.

    A row whose worker died with a call in flight (`attempt_started_at` set) is re-sent only by a
    channel that drops duplicates; otherwise it becomes `unknown` (an admin can re-send it).
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.NOTIFICATIONS_SWEEP_GRACE_SECONDS)
    stuck = list(Notification.objects.filter(status=Status.PENDING, is_async=True, next_attempt_at__lte=now - grace)
                 .only("pk", "service", "attempt_started_at")[:500])
    due = []
    for row in stuck:
        if row.attempt_started_at is not None and not get_channel(row.service).drops_duplicates:
            Notification.objects.filter(pk=row.pk, status=Status.PENDING).update(
                status=Status.UNKNOWN, next_attempt_at=None, attempt_started_at=None, last_error=_LOST_TEXT)
        else:
            due.append(row.pk)
    for pk in due:
        _enqueue(pk)
    old = now - timedelta(minutes=10)
    abandoned = Notification.objects.filter(
        Q(next_attempt_at__isnull=True, timestamp__lte=old) | Q(next_attempt_at__lte=old),
        status=Status.PENDING, is_async=False)
    in_flight = Q(attempt_started_at__isnull=False) & ~Q(service__in=_deduplicating_services())
    abandoned.filter(in_flight).update(status=Status.UNKNOWN, http_status=500, next_attempt_at=None,
                                       attempt_started_at=None, last_error=_LOST_TEXT)
    abandoned.update(status=Status.FAILED, http_status=500, next_attempt_at=None, attempt_started_at=None,
                     last_error="Доставка прервана: процесс завершился до ответа.")
    return len(due)


def notification_resend(*, notification_id) -> Notification:
    """Admin: send an `unknown` or `failed` notification again, as a new attempt of the same row.

    The admin takes the risk of a duplicate for `unknown`; that is why it is never automatic.
    """
    claimed = Notification.objects.filter(pk=notification_id, status__in=(Status.UNKNOWN, Status.FAILED)).update(
        status=Status.PENDING, next_attempt_at=timezone.now(), attempt_started_at=None)
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    if not claimed:
        raise ApplicationError("Повторить можно только уведомление со статусом «Ошибка» или «Неизвестно».",
                               field="status")
    if notification.is_async:
        transaction.on_commit(lambda: _enqueue(notification.pk), robust=True)
        return notification
    return _deliver_sync(notification)


_LOST_TEXT = "Воркер завершился во время отправки: возможно, доставлено. Автоматически не повторяется."


def _deduplicating_services() -> list[str]:
    return [service for service in Service.values if get_channel(service).drops_duplicates]


# --- internals ----------------------------------------------------------------------------


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _replay_or_retry(existing: Notification, fingerprint: str) -> Notification:
    """The stored final answer; after a provider failure (500, `failed`) the same key tries again.

    The claim is one conditional UPDATE, so concurrent retries try once (the others get 409).
    """
    if existing.request_fingerprint != fingerprint:
        raise ApplicationError("Idempotency-Key уже использован с другим запросом.", field="Idempotency-Key")
    if existing.is_async or existing.status != Status.FAILED or existing.http_status != 500:
        return existing
    claimed = Notification.objects.filter(pk=existing.pk, status=Status.FAILED, http_status=500).update(
        status=Status.PENDING, http_status=None, next_attempt_at=timezone.now(), attempt_started_at=None)
    existing.refresh_from_db()
    if not claimed:
        return existing
    return _deliver_sync(existing)


def _render(recipient: Recipient, service: str, subject: str, type: str, message: str):
    return render(service=service, role=recipient.role, subject=subject, type=type, message=message)


def _not_linked_text(service: str) -> str:
    return {
        Service.EMAIL: "У получателя нет email.",
        Service.PUSH: "У получателя нет активных устройств.",
    }.get(service, f"Аккаунт {service} не привязан или отключён.")


def _target(notification: Notification) -> Target | None:
    """The addresses for the service, or None when the recipient is not linked to it."""
    recipient, service = notification.recipient, notification.service
    if service == Service.EMAIL:
        return Target([recipient.email]) if recipient.email else None
    if service == Service.PUSH:
        devices = active_device_ids(recipient=recipient)
        return Target(devices) if devices else None
    binding = ServiceBinding.objects.filter(recipient=recipient, service=service, is_active=True).first()
    return Target([binding.service_user_id]) if binding else None


def _enqueue(notification_id, countdown: float | None = None) -> None:
    """Hand the row to Celery. With the broker down it never raises (the commit already happened and
    the caller gets its 202): the row stays PENDING and the next `notifications.sweep` enqueues it."""
    from notifications.tasks import notification_deliver_task

    dispatch(notification_deliver_task, args=[str(notification_id)], countdown=countdown,
             on_failure=partial(_sweep_at_once, notification_id), label=f"notification {notification_id}")


def _sweep_at_once(notification_id) -> None:
    """After a failed dispatch the next sweep takes the row without waiting for the grace period."""
    Notification.objects.filter(pk=notification_id, status=Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - timedelta(seconds=settings.NOTIFICATIONS_SWEEP_GRACE_SECONDS))


def _deliver_sync(notification: Notification) -> Notification:
    """Deliver before answering, within NOTIFICATIONS_SYNC_DEADLINE seconds.

    A transient error is retried inside the deadline when the wait it asks for fits.
    """
    deadline = time.monotonic() + settings.NOTIFICATIONS_SYNC_DEADLINE
    while True:
        error = _attempt(notification)
        if error is None or notification.status != Status.PENDING:
            return notification
        wait = error.retry_after if error.retry_after is not None else 0.5
        if error.permanent or time.monotonic() + wait > deadline:
            _finish(notification, status=Status.FAILED, http_status=500, error=str(error))
            return notification
        time.sleep(wait)


def _attempt(notification: Notification) -> DeliveryError | None:
    """One delivery attempt with history bookkeeping. Returns the error, or None when sent."""
    target = _target(notification)
    if target is None:  # unbound or deactivated since the request was accepted
        _finish(notification, status=Status.FAILED, error=_not_linked_text(notification.service),
                http_status=None if notification.is_async else 404)
        return DeliveryError(notification.last_error, permanent=True)
    channel = get_channel(notification.service)
    wait = _rate_limit_wait(channel, target)
    if wait:
        return DeliveryError("Превышен лимит отправки, ждём окно.", permanent=False, retry_after=wait)
    rendered = _render(notification.recipient, notification.service, notification.subject,
                       notification.type, notification.message)
    started = timezone.now()
    Notification.objects.filter(pk=notification.pk).update(attempts=F("attempts") + 1, attempt_started_at=started)
    notification.attempts += 1
    try:
        result = channel.send(notification_id=notification.pk, target=target, rendered=rendered)
    except DeliveryError as error:
        logger.warning("notification %s attempt %s failed: %s", notification.pk, notification.attempts, error)
        _deactivate(notification, error.deactivate, reason=str(error))
        notification.attempt_started_at = None
        if error.ambiguous and not channel.drops_duplicates:
            # It may have arrived and the receiver cannot drop a repeat: never re-send on our own.
            _finish(notification, status=Status.UNKNOWN, error=f"{error} — возможно, доставлено; не повторяется",
                    http_status=None if notification.is_async else 500)
            return error
        notification.last_error = str(error)[:2000]
        notification.save(update_fields=["last_error", "attempt_started_at"])
        return error
    with transaction.atomic():
        _deactivate(notification, result.dead_addresses, reason="OneSignal: подписка недействительна")
        if notification.service == Service.PUSH:
            PushHistory.objects.create(
                notification=notification, recipient=notification.recipient, subject=notification.subject,
                type=notification.type, message=notification.message, title=rendered.title,
                device_ids=[d for d in target.addresses if d not in result.dead_addresses],
                external_id=result.external_id)
        notification.external_id = result.external_id[:255]
        _finish(notification, status=Status.SENT, http_status=None if notification.is_async else 200, error="")
    return None


def _rate_limit_wait(channel, target: Target) -> float:
    """Wait (briefly) for a slot in the shared limits; returns the remaining wait if none came."""
    limits = channel.rate_limits(target)
    for _ in range(3):
        wait = acquire_all(limits)
        if not wait or wait > 1.0:
            return wait
        time.sleep(wait)
    return acquire_all(limits)


def _deactivate(notification: Notification, addresses: list[str], *, reason: str) -> None:
    if not addresses:
        return
    now = timezone.now()
    if notification.service in BindingService.values:
        ServiceBinding.objects.filter(recipient=notification.recipient, service=notification.service).update(
            is_active=False, deactivated_reason=reason[:255], updated_at=now)
    elif notification.service == Service.PUSH:
        Device.objects.filter(recipient=notification.recipient, device_id__in=addresses).update(
            is_active=False, deactivated_reason=reason[:255], updated_at=now)


def _finish(notification: Notification, *, status: str, error: str, http_status: int | None = None) -> None:
    notification.status = status
    notification.last_error = error[:2000]
    notification.next_attempt_at = None
    notification.attempt_started_at = None
    fields = ["status", "last_error", "next_attempt_at", "attempt_started_at"]
    if status == Status.SENT:
        notification.sent_at = timezone.now()
        fields += ["sent_at", "external_id"]
    if http_status is not None:
        notification.http_status = http_status
        fields.append("http_status")
    notification.save(update_fields=fields)
    notification_observe(channel=notification.service, outcome=status)  # observability hook (issue 20)
    if notification.notify_request_id and status != Status.PENDING:
        from notifications.services.notify import notify_send_finished  # notify builds on sending

        notify_send_finished(notify_id=notification.notify_request_id)
