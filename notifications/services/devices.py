import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ConflictError, NotFoundError
from notifications.models import Device, DeviceHistory, Recipient
from notifications.selectors import recipient_get

logger = logging.getLogger(__name__)
REPLACED_REASON = "Заменено новым токеном устройства."
UNSUBSCRIBED_REASON = "Отписано через API."


def device_subscribe(*, recipient_id, device_id: str, previous_device_id: str = "") -> tuple[Device, bool]:
    """Register a push device for the recipient. Returns (device, changed).

    - the same device for the same recipient: no change (idempotent);
    - a device registered to another recipient: ConflictError device_conflict (409);
    - `previous_device_id` of this recipient (token changed after a reinstall): that
      device is deactivated in the same transaction and the history records old → new;
    - otherwise a new device is added (a recipient may have several).
    """
    recipient = recipient_get(recipient_id=recipient_id)
    try:
        return _subscribe(recipient=recipient, device_id=device_id, previous_device_id=previous_device_id)
    except IntegrityError:  # a concurrent request registered the same device id first
        return _subscribe(recipient=recipient, device_id=device_id, previous_device_id=previous_device_id)


@transaction.atomic
def _subscribe(*, recipient: Recipient, device_id: str, previous_device_id: str) -> tuple[Device, bool]:
    Recipient.objects.select_for_update().get(pk=recipient.pk)
    existing = Device.objects.filter(device_id=device_id).first()
    if existing and existing.recipient_id != recipient.pk:
        raise ConflictError("Устройство уже зарегистрировано другим пользователем.", code="device_conflict",
                            field="device_id")
    replaced = _replace_previous(recipient=recipient, device_id=device_id, previous_device_id=previous_device_id)
    if existing:
        if not existing.is_active:
            existing.is_active, existing.deactivated_reason = True, ""
            existing.save(update_fields=["is_active", "deactivated_reason", "updated_at"])
            return existing, True
        return existing, replaced
    device = Device.objects.create(recipient=recipient, device_id=device_id)
    if not replaced:
        DeviceHistory.objects.create(recipient=recipient, new_device_id=device_id)
    return device, True


def _replace_previous(*, recipient: Recipient, device_id: str, previous_device_id: str) -> bool:
    """The token changed (reinstall): the previous device of this recipient is deactivated, history old → new.

    Runs in the caller's transaction, so the old token is never active next to the new one for long,
    and a failure keeps both as they were. Another user's or an unknown previous id is ignored.
    """
    if not previous_device_id or previous_device_id == device_id:
        return False
    updated = Device.objects.filter(recipient=recipient, device_id=previous_device_id, is_active=True).update(
        is_active=False, deactivated_reason=REPLACED_REASON, updated_at=timezone.now())
    if updated:
        DeviceHistory.objects.create(recipient=recipient, old_device_id=previous_device_id, new_device_id=device_id)
    return bool(updated)


@transaction.atomic
def device_unsubscribe(*, recipient_id, device_id: str) -> bool:
    """Deactivate the recipient's device (DELETE /notifications/subscribe). True when it was active.

    Logged in the device history as `device_id → ""`. Another user's or an unknown device: NotFoundError device_not_found (404).
    Repeating it is a no-op (no second history row).
    """
    recipient = recipient_get(recipient_id=recipient_id)
    device = Device.objects.select_for_update().filter(recipient=recipient, device_id=device_id).first()
    if device is None:
        raise NotFoundError("Устройство не найдено у этого пользователя.", code="device_not_found", field="device_id")
    if not device.is_active:
        return False
    device.is_active, device.deactivated_reason = False, UNSUBSCRIBED_REASON
    device.save(update_fields=["is_active", "deactivated_reason", "updated_at"])
    DeviceHistory.objects.create(recipient=recipient, old_device_id=device_id, new_device_id="")
    logger.info("device unsubscribed: recipient %s, device #%s", recipient.pk, device.pk)
    return True
