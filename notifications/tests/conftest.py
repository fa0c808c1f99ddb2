import itertools
import logging
import uuid

import pytest

from config.testing.fake_http import Receiver
from config.testing.fake_onesignal import FakeOneSignal
from config.testing.fake_telegram import FakeTelegram
from config.testing.fake_vk import FakeVK
from config.testing.smtp_sink import SmtpSink

_ids = itertools.count(1000)
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd chatter


@pytest.fixture(scope="session")
def _fake_servers():
    with FakeTelegram() as tg, FakeVK() as vk, FakeOneSignal() as onesignal, SmtpSink() as smtp:
        yield {"telegram": tg, "vk": vk, "onesignal": onesignal, "smtp": smtp}


@pytest.fixture
def fakes(_fake_servers, settings):
    """All four fake remotes, reset, with the settings pointing the real clients at them."""
    for server in _fake_servers.values():
        server.reset()
    tg, vk, onesignal, smtp = (_fake_servers[k] for k in ("telegram", "vk", "onesignal", "smtp"))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST-token"
    settings.TELEGRAM_API_BASE_URL = tg.url
    settings.VK_GROUP_TOKEN = "vk-test-token"
    settings.VK_API_BASE_URL = vk.url
    settings.ONESIGNAL_API_BASE_URL = onesignal.url
    settings.ONESIGNAL_APP_ID = "app-test"
    settings.ONESIGNAL_API_KEY = "os-test-key"
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 5
    settings.NOTIFICATIONS_SYNC_DEADLINE = 5
    return _fake_servers


@pytest.fixture
def make_recipient(db):
    """Recipient with optional email, Telegram/VK bindings and push devices (unique ids per call)."""
    from notifications.models import Device, Recipient, ServiceBinding

    def make(role="user", *, email=None, telegram=False, vk=False, devices=0, name="Иван"):
        n = next(_ids)
        recipient = Recipient.objects.create(
            id=uuid.uuid4(), role=role, name=name, email=f"user{n}@example.com" if email is None else email)
        if telegram:
            ServiceBinding.objects.create(recipient=recipient, service="telegram", service_user_id=str(n))
        if vk:
            ServiceBinding.objects.create(recipient=recipient, service="vk", service_user_id=str(n + 500000))
        for i in range(devices):
            Device.objects.create(recipient=recipient, device_id=f"sub-{n}-{i}")
        return recipient

    return make


@pytest.fixture
def send(notifications_service_client):
    """POST /notifications/send as the notifications service."""

    def post(payload=None, *, headers=None, path="/notifications/send", **fields):
        body = dict(payload or {}, **fields)
        if "user_id" in body:
            body["user_id"] = str(body["user_id"])
        return notifications_service_client.post(path, body, format="json", headers=headers or {})

    return post


# --- status callbacks: a receiver of signed events and a callback URL pointing at it ---

@pytest.fixture(scope="module")
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def callback(receiver, notifications_service_client):
    receiver.reset()
    response = notifications_service_client.put("/notifications/callback",
                                                 {"callback_url": receiver.url + "/hooks/notifications"}, format="json")
    assert response.status_code == 200
    return response.json()["secret"]
