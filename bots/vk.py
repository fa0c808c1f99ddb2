"""VK adapter of the binding dialogue (vk_api), shared by Bots Long Poll and the Callback API.

Events are the raw dicts both transports deliver: `{"type", "object", "group_id", "event_id"}`.
The token arrives as `message.ref` (https://vk.me/<group>?ref=<token>), the text
`start <token>`, a button payload `{"token": ...}`, or the `key` of `message_allow`.
Buttons are text buttons whose payload is `{"bind": "<dialog button data>"}`.
"""

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass

from django.db import transaction
from vk_api import VkApi
from vk_api.bot_longpoll import VkBotLongPoll
from vk_api.exceptions import ApiError
from vk_api.keyboard import VkKeyboard, VkKeyboardColor
from vk_api.utils import get_random_id

from bots import commands, dialog, preferences
from bots.services import processed_update_claim
from config.observability.heartbeat import heartbeat_touch
from config.observability.metrics import bot_update_observe

logger = logging.getLogger(__name__)
SERVICE = "vk"
BLOCKED_ERRORS = {900, 901, 902}  # blacklisted, no permission to message, privacy settings


@dataclass
class _Answer:
    peer_id: int
    outcome: dialog.Outcome


def vk_event_handle(vk: VkApi, event: dict) -> None:
    """Handle one event once (a repeated `event_id` is ignored)."""
    with transaction.atomic():
        if not processed_update_claim(service=SERVICE, update_id=event.get("event_id")):
            return
        answer = _route(event)
    if answer:
        _send(vk, answer, event.get("event_id"))


def _payload(message: dict) -> dict:
    try:
        value = json.loads(message.get("payload") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _route(event: dict) -> _Answer | None:
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "message_new":
        message = obj.get("message", obj)  # API < 5.103 put the message fields in `object`
        user_id = message.get("from_id")
        if not isinstance(user_id, int) or user_id <= 0 or message.get("peer_id", user_id) != user_id:
            return None  # only private messages from people
        payload = _payload(message)
        if dialog.is_button_data(payload.get("bind")):
            return _Answer(user_id, dialog.press(service=SERVICE, account_id=user_id, data=payload["bind"]))
        if preferences.is_settings_data(payload.get("settings")):
            return _Answer(user_id, preferences.settings_press(service=SERVICE, account_id=user_id,
                                                               data=payload["settings"]))
        token = message.get("ref") or payload.get("token")  # a deep link's ref, a start button
        if isinstance(token, str) and token:
            return _Answer(user_id, dialog.start(service=SERVICE, account_id=user_id, token=token))
        return _Answer(user_id, commands.handle_text(service=SERVICE, account_id=user_id,
                                                     text=message.get("text", "")))
    if kind == "message_allow" and isinstance(obj.get("user_id"), int) and obj.get("key"):
        return _Answer(obj["user_id"], dialog.start(service=SERVICE, account_id=obj["user_id"], token=str(obj["key"])))
    if kind == "message_deny" and obj.get("user_id"):
        dialog.blocked(service=SERVICE, account_id=obj["user_id"])
    return None


def _keyboard(buttons: list[dialog.Button]) -> str | None:
    if not buttons:
        return None
    keyboard = VkKeyboard(inline=True)
    for index, button in enumerate(buttons):
        if index and len(buttons) > 2:  # a menu: one button a line (VK inline keyboards allow 6 lines)
            keyboard.add_line()
        color = VkKeyboardColor.POSITIVE if button.positive else VkKeyboardColor.SECONDARY
        key = "settings" if preferences.is_settings_data(button.data) else "bind"
        keyboard.add_button(button.label, color=color, payload={key: button.data})
    return keyboard.get_keyboard()


def _random_id(event_id, index: int) -> int:
    """Stable per (event, reply): if VK redelivers an event we did not record, VK drops the resend."""
    if not event_id:
        return get_random_id()
    digest = hashlib.sha256(f"{event_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _send(vk: VkApi, answer: _Answer, event_id) -> None:
    replies = answer.outcome.replies or ([dialog.Reply(answer.outcome.notice)] if answer.outcome.notice else [])
    for index, reply in enumerate(replies):
        values = {"peer_id": answer.peer_id, "message": reply.text, "random_id": _random_id(event_id, index)}
        keyboard = _keyboard(reply.buttons)
        if keyboard:
            values["keyboard"] = keyboard
        try:
            vk.method("messages.send", values)
        except ApiError as exc:
            logger.warning("vk messages.send failed for %s: error %s", answer.peer_id, exc.code)
            if exc.code in BLOCKED_ERRORS:
                dialog.blocked(service=SERVICE, account_id=answer.peer_id)
            return
        except Exception as exc:  # network: the reply is lost, the dialogue state is already saved
            logger.warning("vk messages.send failed for %s: %s", answer.peer_id, type(exc).__name__)
            return


def vk_poll(vk: VkApi, *, group_id: str | int, wait: int = 25, max_seconds: float | None = None) -> int:
    """Bots Long Poll until `max_seconds` pass (None: forever). Returns events handled."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    longpoll = VkBotLongPoll(vk, group_id=group_id, wait=wait)
    handled, pause = 0, 1.0
    while deadline is None or time.monotonic() < deadline:
        heartbeat_touch("vk-bot")  # observability hook (issue 20): compose healthcheck reads it
        longpoll.wait = wait if deadline is None else max(1, min(wait, math.ceil(deadline - time.monotonic())))
        try:
            events = longpoll.check()
            pause = 1.0
        except Exception as exc:
            logger.warning("vk long poll failed: %s", type(exc).__name__)
            time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 30.0)
            try:
                longpoll.update_longpoll_server()
            except Exception as again:
                logger.warning("vk groups.getLongPollServer failed: %s", type(again).__name__)
            continue
        for event in events:
            try:
                vk_event_handle(vk, event.raw)
                handled += 1
                bot_update_observe(bot="vk", ok=True)  # observability hook (issue 20)
            except Exception:
                logger.exception("vk event %s failed", event.raw.get("event_id"))
                bot_update_observe(bot="vk", ok=False)  # observability hook (issue 20)
    return handled
