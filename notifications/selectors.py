"""Reads. Recipients are addressed by their UUID; there is no tenant scope in this service."""

import uuid

from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.errors import RecipientNotFound
from notifications.models import BindingToken, Device, Notification, Recipient, ServiceBinding


def recipient_get(*, recipient_id: uuid.UUID | str) -> Recipient:
    try:
        return Recipient.objects.get(pk=recipient_id)
    except (Recipient.DoesNotExist, ValueError, ValidationError):
        raise RecipientNotFound("Получатель не найден.", field="user_id")


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
