import requests
from django.conf import settings

from notifications.channels.base import Channel, DeliveryError, Result, request_error
from notifications.clients import ChannelNotConfigured, onesignal_post


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


class PushChannel(Channel):
    """OneSignal `POST /notifications` to the recipient's subscription ids."""

    service = "push"
    drops_duplicates = True  # idempotency_key

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
