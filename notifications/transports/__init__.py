"""Delivery transports behind one interface: `get_transport(service)` (docs: `transports/base.py`)."""

from notifications.transports import email, push, telegram, vk  # noqa: F401  (each registers its transport)
from notifications.transports.base import DeliveryError, Target, Transport, get_transport, register

__all__ = ["Transport", "DeliveryError", "Target", "get_transport", "register"]
