"""Reads. Recipients are addressed by their UUID; there is no tenant scope in this service."""

import uuid
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from config.errors import NotFoundError
from config.sql import MARK_UUID, compiled
from notifications.models import BindingToken, Device, Notification, NotifyRequest, Recipient, ServiceBinding


def recipient_get(*, recipient_id: uuid.UUID | str, annotations: dict | None = None) -> Recipient:
    """`annotations`: read along in the same query (a transport's `target_annotations`)."""
    try:
        return Recipient.objects.annotate(**(annotations or {})).get(pk=recipient_id)
    except (Recipient.DoesNotExist, ValueError, ValidationError):
        raise NotFoundError("Получатель не найден.", code="recipient_not_found", field="user_id")


def recipient_get_for_send(*, recipient_id: uuid.UUID | str, transport) -> Recipient:
    """`recipient_get` with the transport's `target_annotations`, the query compiled once per transport and
    thread (`/send`, issue 19: building it cost more CPU than running it)."""
    try:
        key = recipient_id if isinstance(recipient_id, uuid.UUID) else uuid.UUID(str(recipient_id))
    except ValueError:
        key = None
    query = compiled(("recipient", transport.service), lambda: Recipient.objects.annotate(
        **transport.target_annotations()).filter(pk=MARK_UUID), MARK_UUID)
    recipient = query.get(key) if key is not None else None
    if recipient is None:
        raise NotFoundError("Получатель не найден.", code="recipient_not_found", field="user_id")
    return recipient


def service_binding_get(*, service: str, service_user_id: str) -> ServiceBinding | None:
    """The binding of a messenger account (for the bots: «этот аккаунт уже привязан»)."""
    return (ServiceBinding.objects.select_related("recipient")
            .filter(service=service, service_user_id=str(service_user_id)).first())


def service_binding_for_recipient(*, recipient: Recipient, service: str) -> ServiceBinding | None:
    return ServiceBinding.objects.filter(recipient=recipient, service=service).first()


def binding_token_get(*, token: uuid.UUID | str) -> BindingToken | None:
    """The token if it exists, used or not (the bot explains what is wrong with it)."""
    try:
        return BindingToken.objects.select_related("recipient").filter(token=token).first()
    except (ValueError, ValidationError):
        return None


def binding_token_is_usable(token: BindingToken) -> bool:
    return token.used_at is None and token.expires_at > timezone.now()


def active_device_ids(*, recipient: Recipient) -> list[str]:
    return list(Device.objects.filter(recipient=recipient, is_active=True)
                .order_by("created_at").values_list("device_id", flat=True))


def notification_get_by_key(*, requested_by, idempotency_key: str) -> Notification | None:
    if not idempotency_key:
        return None
    return Notification.objects.filter(requested_by=requested_by, idempotency_key=idempotency_key).first()


def _attempt_body(n: Notification) -> dict:
    return {"channel": n.service, "status": n.status, "time": (n.sent_at or n.timestamp).isoformat(),
            "error": n.last_error}


def _iso(value: datetime | None) -> str | None:
    """In UTC, however the value was computed (a quiet-hours end is in the recipient's zone)."""
    return value.astimezone(UTC).isoformat() if value else None


def notify_status(notify: NotifyRequest) -> dict:
    """The GET /notifications/{id} body of a notify request (also the status callback's `data`)."""
    attempts = notify.attempts.order_by("timestamp", "id")
    return {
        "id": str(notify.pk), "kind": "notify", "user_id": str(notify.recipient_id), "type": notify.type,
        "subject": notify.subject, "status": notify.status, "policy": notify.policy,
        "created_at": _iso(notify.created_at), "deliver_after": _iso(notify.deliver_after),
        "finished_at": _iso(notify.finished_at), "attempts": [_attempt_body(n) for n in attempts],
        "skipped": notify.skipped,
    }


def send_status(notification: Notification) -> dict:
    """The same shape for a plain /send notification: one channel, at most one attempt row."""
    status = {Notification.Status.SENT: "delivered", Notification.Status.FAILED: "failed",
              Notification.Status.UNKNOWN: "unknown"}.get(notification.status, "pending")
    return {
        "id": str(notification.pk), "kind": "send", "user_id": str(notification.recipient_id),
        "type": notification.type, "subject": notification.subject, "status": status, "policy": None,
        "created_at": notification.timestamp.isoformat(), "deliver_after": None,
        "finished_at": notification.sent_at.isoformat() if notification.sent_at else None,
        "attempts": [_attempt_body(notification)] if notification.attempts else [], "skipped": [],
    }


def notification_status_get(*, requested_by, notification_id) -> dict:
    """Status of a notify or send notification, visible only to the service that made it (else 404)."""
    notify = NotifyRequest.objects.filter(pk=notification_id, requested_by=requested_by).first()
    if notify:
        return notify_status(notify)
    row = Notification.objects.filter(pk=notification_id, requested_by=requested_by,
                                      notify_request__isnull=True).first()
    if row:
        return send_status(row)
    raise NotFoundError("Уведомление не найдено.", code="notification_not_found")
