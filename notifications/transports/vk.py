import uuid

import requests
from django.conf import settings
from vk_api.exceptions import ApiError, ApiHttpError

from notifications.clients import ChannelNotConfigured, vk_session
from notifications.transports.base import DeliveryError, Result, Transport, register, request_error

# 900 user blacklisted the community, 901 no permission to write, 902 privacy settings.
DEAD_PEER_CODES = {900, 901, 902}
# 6 too many requests per second, 9 flood control, 10 internal error, 29 rate limit.
TRANSIENT_CODES = {6, 9, 10, 29}


def vk_random_id(notification_id: uuid.UUID) -> int:
    """Deterministic int32 random_id: VK drops a resend with the same id, so retries cannot duplicate."""
    return int.from_bytes(notification_id.bytes[:4], "big") & 0x7FFFFFFF


@register
class VkTransport(Transport):
    service = "vk"
    body_limit = (4096, "сообщение VK")  # messages.send; VK answers error 914 above it
    drops_duplicates = True  # random_id

    def rate_limits(self, target):
        return [("vk", settings.VK_RATE_LIMIT_GLOBAL)]

    def send(self, *, notification_id, target, rendered):
        try:
            message_id = vk_session().method("messages.send", {
                "peer_id": target.addresses[0], "message": rendered.body,
                "random_id": vk_random_id(notification_id),
            })
        except ChannelNotConfigured as exc:
            raise DeliveryError(str(exc), permanent=True)
        except ApiError as exc:
            text = f"VK {exc.code}: {exc.error.get('error_msg', '')}"
            if exc.code in TRANSIENT_CODES:
                raise DeliveryError(text, permanent=False, retry_after=1.0)
            raise DeliveryError(text, permanent=True, deactivate=["*"] if exc.code in DEAD_PEER_CODES else None)
        except ApiHttpError as exc:
            raise DeliveryError(f"VK HTTP {exc.response.status_code}", permanent=False)
        except requests.RequestException as exc:
            raise request_error("VK", exc)
        return Result(external_id=str(message_id))
