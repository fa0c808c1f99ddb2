"""Fake VK server settings and update posting (real sockets, real pyTelegramBotAPI / vk_api); the fake
Telegram (`tg`) is in the root conftest.py (the observability tests use it too)."""

import json

import pytest

from bots.tests.builders import TG_SECRET, VK_CONFIRMATION, VK_GROUP_ID, VK_SECRET
from notifications.services import binding_token_issue
from notifications.tests.factories import RecipientFactory


@pytest.fixture
def vk(_bot_fakes, settings):
    """The fake VK API + long poll server, reset, with the settings pointing vk_api at it."""
    server = _bot_fakes[1]
    server.reset()
    settings.VK_GROUP_TOKEN = "vk-test-token"
    settings.VK_GROUP_ID = VK_GROUP_ID
    settings.VK_API_BASE_URL = server.url
    settings.VK_CALLBACK_SECRET = VK_SECRET
    settings.VK_CONFIRMATION_CODE = VK_CONFIRMATION
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 5
    return server


@pytest.fixture
def recipient(db):
    def make(role="user", name="Иван"):
        return RecipientFactory(role=role, name=name, email="")

    return make


@pytest.fixture
def token(recipient):
    """A fresh one-time binding token (as the binding-links API issues it) → its string."""

    def make(for_recipient=None, **kwargs):
        return str(binding_token_issue(recipient=for_recipient or recipient(**kwargs)).token)

    return make


@pytest.fixture
def tg_post(client, tg):
    """POST an update to the Telegram webhook view with the right secret."""

    def post(update: dict, *, secret: str | None = TG_SECRET):
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return client.post("/bots/telegram/webhook", data=json.dumps(update), content_type="application/json",
                           headers=headers)

    return post


@pytest.fixture
def vk_post(client, vk):
    """POST an event to the VK Callback API view, signed with the secret."""

    def post(event: dict, *, secret: str | None = VK_SECRET):
        body = dict(event, secret=secret) if secret is not None else dict(event)
        return client.post("/bots/vk/callback", data=json.dumps(body), content_type="application/json")

    return post
