"""Writes of the notification service, split by topic. Import from here."""

from notifications.services.bindings import (
    binding_links_build,
    binding_token_consume,
    binding_token_issue,
    service_binding_deactivate,
    service_binding_set,
)
from notifications.services.callbacks import status_callback_set
from notifications.services.devices import device_subscribe, device_unsubscribe
from notifications.services.notify import notify_create
from notifications.services.preferences import preferences_set, quiet_hours_set
from notifications.services.recipients import recipient_token_issue, recipient_upsert
from notifications.services.sending import (
    notification_deliver,
    notification_resend,
    notification_send,
)

__all__ = [
    "binding_links_build", "binding_token_consume", "binding_token_issue", "device_subscribe", "device_unsubscribe",
    "notify_create", "status_callback_set", "notification_deliver", "notification_resend", "notification_send",
    "preferences_set", "quiet_hours_set",
    "recipient_token_issue", "recipient_upsert", "service_binding_deactivate", "service_binding_set",
]
