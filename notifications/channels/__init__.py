"""Delivery channels behind one interface: `get_channel(service).send(...)`."""

from notifications.channels.base import Channel, DeliveryError, Target
from notifications.channels.email import EmailChannel
from notifications.channels.push import PushChannel
from notifications.channels.telegram import TelegramChannel
from notifications.channels.vk import VkChannel
from notifications.models import Service

CHANNELS: dict[str, type[Channel]] = {
    Service.EMAIL: EmailChannel,
    Service.PUSH: PushChannel,
    Service.TELEGRAM: TelegramChannel,
    Service.VK: VkChannel,
}


def get_channel(service: str) -> Channel:
    return CHANNELS[service]()


__all__ = ["Channel", "DeliveryError", "Target", "get_channel"]
