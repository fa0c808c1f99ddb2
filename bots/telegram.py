"""Telegram adapter of the binding dialogue (pyTelegramBotAPI), shared by long polling and the webhook.

Each update is claimed by `update_id` and routed to `bots.dialog` in one transaction; the
answers are sent after the commit, so no row lock is held during a network call.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.db import transaction
from telebot import TeleBot, types
from telebot.apihelper import ApiTelegramException

from bots import commands, dialog, preferences
from bots.services import processed_update_claim
from config.observability.heartbeat import heartbeat_touch
from config.observability.metrics import bot_update_observe

logger = logging.getLogger(__name__)
SERVICE = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


@dataclass
class _Answer:
    chat_id: int
    outcome: dialog.Outcome
    callback_query_id: str | None = None
    question_message_id: int | None = None


def telegram_update_handle(bot: TeleBot, update: types.Update) -> None:
    """Handle one update once (a repeated `update_id` is ignored)."""
    with transaction.atomic():
        if not processed_update_claim(service=SERVICE, update_id=update.update_id):
            return
        answer = _route(update)
    if answer:
        _send(bot, answer)


def _route(update: types.Update) -> _Answer | None:
    if update.message and update.message.chat.type == "private":
        chat_id = update.message.chat.id  # = the user id in a private chat; the channel sends here
        return _Answer(chat_id, commands.handle_text(service=SERVICE, account_id=chat_id,
                                                     text=update.message.text or ""))
    if update.callback_query:
        query = update.callback_query
        chat_id = query.message.chat.id if query.message else query.from_user.id
        press = preferences.settings_press if preferences.is_settings_data(query.data) else dialog.press
        outcome = press(service=SERVICE, account_id=query.from_user.id, data=query.data or "")
        return _Answer(chat_id, outcome, callback_query_id=query.id,
                       question_message_id=query.message.message_id if query.message else None)
    member = update.my_chat_member
    if member and member.chat.type == "private" and member.new_chat_member.status == "kicked":
        dialog.blocked(service=SERVICE, account_id=member.chat.id)
    return None


def _markup(buttons: list[dialog.Button]) -> types.InlineKeyboardMarkup | None:
    if not buttons:
        return None
    markup = types.InlineKeyboardMarkup()
    keys = [types.InlineKeyboardButton(b.label, callback_data=b.data) for b in buttons]
    for row in ([keys] if len(keys) <= 2 else [[key] for key in keys]):  # a menu: one button a line
        markup.row(*row)
    return markup


def _send(bot: TeleBot, answer: _Answer) -> None:
    outcome = answer.outcome
    if answer.callback_query_id:
        _call(answer.chat_id, bot.answer_callback_query, answer.callback_query_id, text=outcome.notice or None)
    if outcome.close_question and answer.question_message_id:
        _call(answer.chat_id, bot.edit_message_reply_markup, answer.chat_id, answer.question_message_id,
              reply_markup=types.InlineKeyboardMarkup())
    for reply in outcome.replies:
        _call(answer.chat_id, bot.send_message, answer.chat_id, reply.text, reply_markup=_markup(reply.buttons))


def _call(chat_id, method, *args, **kwargs) -> None:
    """One Bot API call; failures are logged (never with the URL: it contains the bot token)."""
    try:
        method(*args, **kwargs)
    except ApiTelegramException as exc:
        logger.warning("telegram %s failed for chat %s: %s %s", method.__name__, chat_id,
                       exc.error_code, exc.description)
        if exc.error_code == 403:  # blocked by the user / deactivated account
            dialog.blocked(service=SERVICE, account_id=chat_id)
    except Exception as exc:  # network: the reply is lost, the dialogue state is already saved
        logger.warning("telegram %s failed for chat %s: %s", method.__name__, chat_id, type(exc).__name__)


def telegram_poll(bot: TeleBot, *, timeout: int = 25, max_seconds: float | None = None) -> int:
    """Long polling (getUpdates) until `max_seconds` pass (None: forever). Returns updates handled."""
    bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    offset, handled, pause = None, 0, 1.0
    while deadline is None or time.monotonic() < deadline:
        heartbeat_touch("telegram-bot")  # observability hook (issue 20): compose healthcheck reads it
        wait = timeout if deadline is None else max(1, min(timeout, math.ceil(deadline - time.monotonic())))
        try:
            updates = bot.get_updates(offset=offset, timeout=wait, long_polling_timeout=wait,
                                      allowed_updates=ALLOWED_UPDATES)
            pause = 1.0
        except Exception as exc:
            logger.warning("telegram getUpdates failed: %s", type(exc).__name__)
            time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 30.0)
            continue
        for update in updates:
            offset = update.update_id + 1  # skip even an update that fails, or polling would stall on it
            try:
                telegram_update_handle(bot, update)
                handled += 1
                bot_update_observe(bot="telegram", ok=True)  # observability hook (issue 20)
            except Exception:
                logger.exception("telegram update %s failed", update.update_id)
                bot_update_observe(bot="telegram", ok=False)  # observability hook (issue 20)
    if offset is not None:
        try:  # confirm the last batch so the next run does not fetch it again
            bot.get_updates(offset=offset, timeout=0, allowed_updates=ALLOWED_UPDATES)
        except Exception as exc:
            logger.warning("telegram getUpdates (confirm) failed: %s", type(exc).__name__)
    return handled
