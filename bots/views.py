"""Webhook endpoints of the bots: Telegram webhook and VK Callback API.

Both authenticate the caller with a shared secret from the environment; without a
configured secret every call is refused (403), so an unconfigured bot is not an open door.
"""

import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from telebot import types

from bots.telegram import telegram_update_handle
from bots.vk import vk_event_handle
from config.errors import envelope
from config.observability.metrics import bot_update_observe
from notifications.clients import telegram_bot, vk_session

logger = logging.getLogger(__name__)


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.response = JsonResponse(envelope(code, message), status=status)


def _json_object(request) -> dict:
    if request.method != "POST":
        raise _BadRequest(405, "method_not_allowed", "Разрешён только POST.")
    try:
        data = json.loads(request.body)
    except RequestDataTooBig:
        raise _BadRequest(413, "payload_too_large", "Тело запроса слишком большое.")
    except (ValueError, RecursionError):
        raise _BadRequest(400, "parse_error", "Тело запроса не является корректным JSON.")
    if not isinstance(data, dict):
        raise _BadRequest(400, "parse_error", "Ожидался JSON-объект.")
    return data


def _secret_ok(given, expected: str) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def _forbidden() -> JsonResponse:
    return JsonResponse(envelope("permission_denied", "Неверный секрет вебхука."), status=403)


def _disabled(name: str) -> JsonResponse:
    return JsonResponse(envelope("bot_disabled", f"{name}-бот выключен: токен не задан."), status=503)


@csrf_exempt
def telegram_webhook(request):
    """Telegram → us. Checks `X-Telegram-Bot-Api-Secret-Token` (set by `set_telegram_webhook`)."""
    if not _secret_ok(request.headers.get("X-Telegram-Bot-Api-Secret-Token"), settings.TELEGRAM_WEBHOOK_SECRET):
        return _forbidden()
    try:
        data = _json_object(request)
    except _BadRequest as exc:
        return exc.response
    if not isinstance(data.get("update_id"), int):
        return JsonResponse(envelope("validation_error", "Нет update_id.", {"update_id": ["Обязательное целое поле."]}),
                            status=400)
    if not settings.TELEGRAM_BOT_TOKEN:
        return _disabled("Telegram")
    try:
        update = types.Update.de_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return JsonResponse(envelope("parse_error", "Некорректное обновление Telegram."), status=400)
    telegram_update_handle(telegram_bot(), update)
    bot_update_observe(bot="telegram", ok=True)  # observability hook (issue 20)
    return HttpResponse(status=200)


@csrf_exempt
def vk_callback(request):
    """VK Callback API → us: `confirmation` gets the configured string, any other event `ok`."""
    try:
        data = _json_object(request)
    except _BadRequest as exc:
        return exc.response
    group_ok = not settings.VK_GROUP_ID or str(data.get("group_id")) == str(settings.VK_GROUP_ID)
    if data.get("type") == "confirmation":
        # VK does not always send the secret with this event; when it does, it must match.
        if not group_ok or ("secret" in data and not _secret_ok(data["secret"], settings.VK_CALLBACK_SECRET)):
            return _forbidden()
        if not settings.VK_CONFIRMATION_CODE:
            return JsonResponse(envelope("bot_disabled", "VK_CONFIRMATION_CODE не задан."), status=503)
        return HttpResponse(settings.VK_CONFIRMATION_CODE, content_type="text/plain")
    if not group_ok or not _secret_ok(data.get("secret"), settings.VK_CALLBACK_SECRET):
        return _forbidden()
    if not settings.VK_GROUP_TOKEN:
        return _disabled("VK")
    vk_event_handle(vk_session(), data)
    bot_update_observe(bot="vk", ok=True)  # observability hook (issue 20)
    return HttpResponse("ok", content_type="text/plain")
