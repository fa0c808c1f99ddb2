from django.conf import settings
from django.core.management.base import BaseCommand

from bots.telegram import telegram_poll
from config.observability.exporter import metrics_process_start
from notifications.clients import telegram_bot


class Command(BaseCommand):
    help = "Запускает Telegram-бота привязки аккаунтов (long polling). Без TELEGRAM_BOT_TOKEN бот выключен."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=25, help="Ожидание одного getUpdates, с.")
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="Остановиться через столько секунд (по умолчанию — работать бесконечно).")

    def handle(self, *args, timeout, max_seconds, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            self.stdout.write("Telegram-бот выключен: TELEGRAM_BOT_TOKEN не задан.")
            return
        self.stdout.write("Telegram-бот запущен (long polling).")
        metrics_process_start()  # issue 20: METRICS_PORT exporter (docs/operations.md)
        handled = telegram_poll(telegram_bot(), timeout=timeout, max_seconds=max_seconds)
        self.stdout.write(f"Telegram-бот остановлен, обработано обновлений: {handled}.")
