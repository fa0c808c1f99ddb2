import requests
from django.conf import settings
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from notifications.clients import ChannelNotConfigured, telegram_bot
from notifications.transports.base import DeliveryError, Result, Transport, register, request_error

# Descriptions that mean the chat is gone for good: the binding is deactivated.
DEAD_CHAT_MARKERS = ("bot was blocked", "chat not found", "user is deactivated", "bot was kicked")


@register
class TelegramTransport(Transport):
    service = "telegram"
    body_limit = (4096, "сообщение Telegram")  # Bot API sendMessage

    def rate_limits(self, target):
        return [("telegram", settings.TELEGRAM_RATE_LIMIT_GLOBAL),
                (f"telegram:chat:{target.addresses[0]}", settings.TELEGRAM_RATE_LIMIT_PER_CHAT)]

    def send(self, *, notification_id, target, rendered):
        chat_id = target.addresses[0]
        try:
            message = telegram_bot().send_message(chat_id, rendered.body,
                                                  timeout=settings.NOTIFICATIONS_CHANNEL_TIMEOUT)
        except ChannelNotConfigured as exc:
            raise DeliveryError(str(exc), permanent=True)
        except ApiTelegramException as exc:
            raise _classify(exc)
        except ApiHTTPException as exc:
            raise DeliveryError(f"Telegram HTTP {exc.result.status_code}", permanent=False)
        except requests.RequestException as exc:
            raise request_error("Telegram", exc)
        return Result(external_id=str(message.message_id))


def _classify(exc: ApiTelegramException) -> DeliveryError:
    text = f"Telegram {exc.error_code}: {exc.description}"
    if exc.error_code == 429:
        retry_after = (exc.result_json.get("parameters") or {}).get("retry_after", 1)
        return DeliveryError(text, permanent=False, retry_after=float(retry_after))
    if exc.error_code >= 500:
        return DeliveryError(text, permanent=False)
    dead = any(marker in exc.description.lower() for marker in DEAD_CHAT_MARKERS)
    return DeliveryError(text, permanent=True, deactivate=["*"] if dead else None)
