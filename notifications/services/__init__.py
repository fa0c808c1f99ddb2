"""Writes of the notification service, split by topic. Import from here."""

from notifications.services.bindings import (
    binding_links_build,
    binding_token_consume,
    binding_token_issue,
    service_binding_deactivate,
    service_binding_set,
)
from notifications.services.devices import device_subscribe
from notifications.services.recipients import recipient_token_issue, recipient_upsert
from notifications.services.sending import (
    notification_deliver,
    notification_resend,
    notification_send,
    notifications_sweep,
)

__all__ = [
    "binding_links_build", "binding_token_consume", "binding_token_issue", "device_subscribe",
    "notification_deliver", "notification_resend", "notification_send", "notifications_sweep", "recipient_token_issue",
    "recipient_upsert", "service_binding_deactivate", "service_binding_set",
]
