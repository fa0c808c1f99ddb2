from django.conf import settings

from bots.management.commands._polling import PollingBotCommand
from bots.vk import vk_poll
from notifications.clients import vk_session


class Command(PollingBotCommand):
    help = "Запускает VK-бота привязки аккаунтов (Bots Long Poll). Без VK_GROUP_TOKEN/VK_GROUP_ID бот выключен."
    bot, mode, counted = "VK-бот", "Bots Long Poll", "событий"
    wait_help = "Ожидание одного запроса long poll, с."

    def off_reason(self) -> str:
        return "" if settings.VK_GROUP_TOKEN and settings.VK_GROUP_ID else "VK_GROUP_TOKEN или VK_GROUP_ID не заданы"

    def poll(self, *, timeout, max_seconds):
        return vk_poll(vk_session(), group_id=settings.VK_GROUP_ID, wait=timeout, max_seconds=max_seconds)
