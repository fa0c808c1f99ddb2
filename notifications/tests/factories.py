"""Test data of the notification service: recipients, their bindings and devices, request bodies."""

import itertools
import uuid

import factory
from factory.django import DjangoModelFactory

from notifications.models import Device, Notification, NotifyRequest, Recipient, ServiceBinding, StatusCallback

_ids = itertools.count(1000)


class RecipientFactory(DjangoModelFactory):
    class Meta:
        model = Recipient

    id = factory.LazyFunction(uuid.uuid4)
    role = "user"
    name = "Иван"
    email = ""


class ServiceBindingFactory(DjangoModelFactory):
    class Meta:
        model = ServiceBinding

    recipient = factory.SubFactory(RecipientFactory)
    service = "telegram"
    service_user_id = factory.LazyFunction(lambda: str(next(_ids)))


class DeviceFactory(DjangoModelFactory):
    class Meta:
        model = Device

    recipient = factory.SubFactory(RecipientFactory)
    device_id = factory.LazyFunction(lambda: f"sub-{uuid.uuid4().hex[:12]}")


class _MessageFactory(DjangoModelFactory):
    """What a send's history row and a /notify request share: the recipient and the message."""

    class Meta:
        abstract = True

    recipient = factory.SubFactory(RecipientFactory)
    type, subject, message = "notification", "Тема", "Текст"


class NotificationFactory(_MessageFactory):
    """A send's history row (no engine row, nothing sent): set `status`, `attempts`, ... as the test needs."""

    class Meta:
        model = Notification

    service = "email"


class NotifyRequestFactory(_MessageFactory):
    """A /notify request's row, already finished as delivered."""

    class Meta:
        model = NotifyRequest

    policy = NotifyRequest.Policy.FIRST_SUCCESS
    status = NotifyRequest.Status.DELIVERED


class StatusCallbackFactory(DjangoModelFactory):
    """A service account's status callback URL with its signing secret."""

    class Meta:
        model = StatusCallback

    account = factory.SubFactory("config.tests.factories.UserFactory")
    url = "https://hooks.example/notifications"
    secret = "whsec_" + "A" * 44


def recipient_make(role="user", *, email=None, telegram=False, vk=False, devices=0, name="Иван"):
    """A recipient with optional email, Telegram/VK bindings and push devices (unique ids per call)."""
    n = next(_ids)
    recipient = RecipientFactory(role=role, name=name, email=f"user{n}@example.com" if email is None else email)
    if telegram:
        ServiceBindingFactory(recipient=recipient, service="telegram", service_user_id=str(n))
    if vk:
        ServiceBindingFactory(recipient=recipient, service="vk", service_user_id=str(n + 500000))
    for i in range(devices):
        DeviceFactory(recipient=recipient, device_id=f"sub-{n}-{i}")
    return recipient


def send_payload(recipient, **overrides):
    """A valid POST /notifications/send body for `recipient`."""
    body = {"user_id": str(recipient.pk), "service": "email", "subject": "Отчёт", "type": "notification",
            "message": "Готово"}
    body.update(overrides)
    return body


def recipient_client(recipient):
    """An APIClient carrying the recipient's own token."""
    from rest_framework.test import APIClient

    from notifications.auth import RecipientToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RecipientToken.for_recipient(recipient)}")
    return client


def verified(receiver, secret) -> list[dict]:
    """Every event the receiver got, verified with the standardwebhooks package (raises on a bad signature)."""
    from standardwebhooks.webhooks import Webhook

    return [Webhook(secret).verify(r.body, {k.lower(): v for k, v in r.headers.items()}) for r in receiver.requests]
