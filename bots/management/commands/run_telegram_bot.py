from django.conf import settings

from bots.management.commands._polling import PollingBotCommand
from bots.telegram import telegram_poll
from notifications.clients import telegram_bot


class Command(PollingBotCommand):
    help = "Запускает Telegram-бота привязки аккаунтов (long polling). Без TELEGRAM_BOT_TOKEN бот выключен."
    bot, mode, counted = "Telegram-бот", "long polling", "обновлений"
    wait_help = "Ожидание одного getUpdates, с."

    def off_reason(self) -> str:
        return "" if settings.TELEGRAM_BOT_TOKEN else "TELEGRAM_BOT_TOKEN не задан"

    def poll(self, *, timeout, max_seconds):
        return telegram_poll(telegram_bot(), timeout=timeout, max_seconds=max_seconds)
