from django.conf import settings
from django.core.management.base import BaseCommand

from bots.vk import vk_poll
from config.observability.exporter import metrics_process_start
from notifications.clients import vk_session


class Command(BaseCommand):
    help = "Запускает VK-бота привязки аккаунтов (Bots Long Poll). Без VK_GROUP_TOKEN/VK_GROUP_ID бот выключен."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=25, help="Ожидание одного запроса long poll, с.")
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="Остановиться через столько секунд (по умолчанию — работать бесконечно).")

    def handle(self, *args, timeout, max_seconds, **options):
        if not (settings.VK_GROUP_TOKEN and settings.VK_GROUP_ID):
            self.stdout.write("VK-бот выключен: VK_GROUP_TOKEN или VK_GROUP_ID не заданы.")
            return
        self.stdout.write("VK-бот запущен (Bots Long Poll).")
        metrics_process_start()  # issue 20: METRICS_PORT exporter (docs/operations.md)
        handled = vk_poll(vk_session(), group_id=settings.VK_GROUP_ID, wait=timeout, max_seconds=max_seconds)
        self.stdout.write(f"VK-бот остановлен, обработано событий: {handled}.")
