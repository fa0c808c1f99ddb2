import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telebot.apihelper import ApiTelegramException
from telebot.types import BotCommand

from bots.commands import COMMANDS
from bots.telegram import ALLOWED_UPDATES
from notifications.clients import telegram_bot

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token


class Command(BaseCommand):
    help = ("Регистрирует вебхук Telegram-бота (URL из аргумента или TELEGRAM_WEBHOOK_URL, "
            "секрет TELEGRAM_WEBHOOK_SECRET) и меню команд. --delete снимает вебхук (для long polling).")

    def add_arguments(self, parser):
        parser.add_argument("url", nargs="?", default=None, help="Например https://crm.example.ru/bots/telegram/webhook")
        parser.add_argument("--delete", action="store_true", help="Снять вебхук.")
        parser.add_argument("--drop-pending-updates", action="store_true", help="Отбросить накопившиеся обновления.")

    def handle(self, *args, url, delete, drop_pending_updates, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN не задан: Telegram-бот выключен.")
        bot = telegram_bot()
        try:
            if delete:
                bot.delete_webhook(drop_pending_updates=drop_pending_updates or None)
                self.stdout.write("Вебхук Telegram снят.")
                return
            url = url or settings.TELEGRAM_WEBHOOK_URL
            if not url:
                raise CommandError("Укажите URL вебхука аргументом или в TELEGRAM_WEBHOOK_URL.")
            if not SECRET_RE.match(settings.TELEGRAM_WEBHOOK_SECRET or ""):
                raise CommandError("TELEGRAM_WEBHOOK_SECRET не задан или содержит недопустимые символы "
                                   "(разрешены A-Z, a-z, 0-9, _ и -, до 256 символов).")
            bot.set_webhook(url=url, secret_token=settings.TELEGRAM_WEBHOOK_SECRET, allowed_updates=ALLOWED_UPDATES,
                            drop_pending_updates=drop_pending_updates or None)
            # the bot's menu, from the one command table
            bot.set_my_commands([BotCommand(command.names[0], command.description) for command in COMMANDS])
        except ApiTelegramException as exc:
            raise CommandError(f"Telegram отказал: {exc.error_code} {exc.description}")
        self.stdout.write(f"Вебхук Telegram установлен: {url}")
