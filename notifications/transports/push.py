import requests
from django.conf import settings

from notifications.clients import ChannelNotConfigured, onesignal_post
from notifications.rules import Rendered
from notifications.transports.base import DeliveryError, Result, Target, Transport, register, request_error


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


@register
class PushTransport(Transport):
    """OneSignal `POST /notifications` to the recipient's subscription ids."""

    service = "push"
    drops_duplicates = True  # idempotency_key
    not_linked_text = "У получателя нет активных устройств."
    dead_address_reason = "OneSignal: подписка недействительна"
    TITLE_LIMIT = 256  # keeps the APNs/FCM payload (4 KB) safe with Cyrillic text
    BODY_LIMIT = 1500

    def target(self, recipient) -> Target | None:
        from notifications.selectors import active_device_ids

        devices = active_device_ids(recipient=recipient)
        return Target(devices) if devices else None

    def render(self, *, role, subject, type, message) -> Rendered:
        """Push title: `{subject}` for Пользователь, `{subject} | {type}` for every staff role. The spec
        table has no Менеджер row; a manager is staff like the moderator and the admin."""
        from notifications.models import Role

        return Rendered(title=subject if role == Role.USER else f"{subject} | {type}", body=message)

    def limits(self, rendered):
        return [(rendered.title, self.TITLE_LIMIT, "заголовок push"), (rendered.body, self.BODY_LIMIT, "текст push")]

    def record_sent(self, *, notification, target, result, rendered):
        """Spec «История уведомлений push»: every push handed to OneSignal."""
        from notifications.models import PushHistory

        PushHistory.objects.create(
            notification=notification, recipient=notification.recipient, subject=notification.subject,
            type=notification.type, message=notification.message, title=rendered.title,
            device_ids=[d for d in target.addresses if d not in result.dead_addresses],
            external_id=result.external_id)

    def deactivate(self, recipient, addresses, *, reason):
        from django.utils import timezone

        from notifications.models import Device

        Device.objects.filter(recipient=recipient, device_id__in=addresses).update(
            is_active=False, deactivated_reason=reason[:255], updated_at=timezone.now())

    def rate_limits(self, target):
        return [("onesignal", settings.ONESIGNAL_RATE_LIMIT)]

    def send(self, *, notification_id, target, rendered):
        payload = {
            "include_subscription_ids": target.addresses,
            "target_channel": "push",
            "headings": {"en": rendered.title, "ru": rendered.title},
            "contents": {"en": rendered.body, "ru": rendered.body},
            # OneSignal remembers it for 30 days: a retry never pushes twice.
            "idempotency_key": str(notification_id),
        }
        try:
            response = onesignal_post("/notifications", payload)
        except ChannelNotConfigured as exc:
            raise DeliveryError(str(exc), permanent=True)
        except requests.RequestException as exc:
            raise request_error("OneSignal", exc)
        if response.status_code == 429:
            raise DeliveryError("OneSignal 429", permanent=False, retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise DeliveryError(f"OneSignal HTTP {response.status_code}", permanent=False)
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200:
            raise DeliveryError(f"OneSignal HTTP {response.status_code}: {data.get('errors')}", permanent=True)
        errors = data.get("errors") or {}
        invalid = []
        if isinstance(errors, dict):
            invalid = list(errors.get("invalid_subscription_ids") or errors.get("invalid_player_ids") or [])
        if not data.get("id"):
            # Nothing was sent: every subscription is invalid or unsubscribed.
            raise DeliveryError(f"OneSignal ничего не отправил: {errors}", permanent=True,
                                deactivate=invalid or list(target.addresses))
        return Result(external_id=data["id"], dead_addresses=invalid)
