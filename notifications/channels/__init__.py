"""Delivery channels behind one interface: `get_channel(service)` (docs: `channels/base.py`)."""

from notifications.channels import email, push, telegram, vk  # noqa: F401  (each registers its channel)
from notifications.channels.base import Channel, DeliveryError, Target, get_channel, register

__all__ = ["Channel", "DeliveryError", "Target", "get_channel", "register"]
