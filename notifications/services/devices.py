from django.db import IntegrityError, transaction

from notifications.errors import DeviceConflict
from notifications.models import Device, DeviceHistory, Recipient
from notifications.selectors import recipient_get


def device_subscribe(*, recipient_id, device_id: str, previous_device_id: str = "") -> tuple[Device, bool]:
    """Register a push device for the recipient. Returns (device, changed).

    - the same device for the same recipient: no change (idempotent);
    - a device registered to another recipient: DeviceConflict (409);
    - `previous_device_id` of this recipient (token changed after a reinstall): that
      row takes the new id and the change is written to the device history;
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
        raise DeviceConflict("Устройство уже зарегистрировано другим пользователем.", field="device_id")
    if existing:
        if not existing.is_active:
            existing.is_active, existing.deactivated_reason = True, ""
            existing.save(update_fields=["is_active", "deactivated_reason", "updated_at"])
            return existing, True
        return existing, False
    previous = None
    if previous_device_id and previous_device_id != device_id:
        previous = Device.objects.filter(recipient=recipient, device_id=previous_device_id).first()
    if previous:
        previous.device_id, previous.is_active, previous.deactivated_reason = device_id, True, ""
        previous.save(update_fields=["device_id", "is_active", "deactivated_reason", "updated_at"])
        DeviceHistory.objects.create(recipient=recipient, old_device_id=previous_device_id, new_device_id=device_id)
        return previous, True
    device = Device.objects.create(recipient=recipient, device_id=device_id)
    DeviceHistory.objects.create(recipient=recipient, new_device_id=device_id)
    return device, True
