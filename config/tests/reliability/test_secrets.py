"""Secrets never leak: full flows run with every logger at DEBUG (urllib3 and the Telegram client
included); afterwards neither the logs nor any API response after creation contain a secret."""

import logging
import re
import secrets

import pytest
from django.db import transaction

from communications.models import Delivery, TenantConfiguration
from communications.services.deliveries import delivery_enqueue
from config.testing.fake_provider import FakeProvider
from config.testing.fake_telegram import FakeTelegram

LOGGERS = ["", "urllib3", "urllib3.connectionpool", "requests", "TeleBot", "django", "django.request", "celery",
           "communications", "marketplace", "notifications", "bots", "vk_api"]


@pytest.fixture
def all_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _log_text(caplog) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def test_api_keys_tokens_webhook_and_bot_secrets_stay_out_of_logs_and_later_responses(
        world, all_logs, settings, django_capture_on_commit_callbacks):
    from notifications.tests.factories import ServiceBindingFactory

    later_responses: list[bytes] = []
    api_key = "sk-live-" + secrets.token_hex(16)
    bot_token = "987654321:AA" + secrets.token_urlsafe(24)
    settings.PROVIDER_ALLOW_LOOPBACK = True
    with FakeProvider() as provider, FakeTelegram() as telegram:
        dev = world.client("developer:dev-1")
        code = world.apps["dev-1"]
        # 1. a developer uploads a new configuration with the API key; reads it back (masked)
        configuration = {
            "appCode": code, "appVersion": "1.0.0", "configurationVersion": "1.1.0", "providerLabel": "Acme",
            "endpoints": provider.endpoints(("sendMessage", "updateMessageContent", "updateMessageStatus",
                                             "markChatRead", "disconnect", "getChannels")),
            "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": api_key}}
        created = dev.put("/internal/v1/marketplace/provider-configurations", configuration, format="json")
        assert created.status_code == 200, created.json()
        later_responses.append(created.content)  # write-only: not even the creation answer shows it
        later_responses.append(dev.get("/internal/v1/marketplace/provider-configurations",
                                       {"appCode": code, "appVersion": "1.0.0", "history": "true"}).content)
        # 2. the marketplace installs it for a tenant, the CRM issues an integration token
        tenant = str(world.integrations["A-X"].tenant_id)
        market = world.client("service:marketplace")
        assert market.post("/internal/v1/tenant-configurations",
                           {"tenantId": tenant, "appCode": code, "appVersion": "1.0.0"}, format="json").status_code == 201
        crm = world.client("service:crm")
        issued = crm.post("/internal/v1/integration-tokens", {"tenantId": tenant, "providerCode": code}, format="json")
        assert issued.status_code == 201
        token = issued.json()["token"]
        later_responses.append(crm.get("/internal/v1/integration-tokens", {"tenantId": tenant}).content)
        # 3. the provider uses the token, sets a webhook (secret shown once), reads it back
        provider_api = world.client("integration:A-X")
        provider_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        hook = provider_api.post("/api/v1/webhooks", {"url": "https://provider.example/events",
                                                      "events": ["chat.seen"]}, format="json")
        assert hook.status_code == 201
        webhook_secret = hook.json()["secret"]
        later_responses += [provider_api.get("/api/v1/webhooks").content,
                            provider_api.post("/api/v1/webhooks", {"url": "https://provider.example/events2",
                                                                   "events": ["chat.seen"]}, format="json").content]
        later_responses.append(provider_api.post("/api/v1/messages", {
            "id": "m-1", "text": "Привет", "chat": {"id": "c-1", "participants": [{"id": "u-1"}]}},
            format="json").content)
        # 4. a call to the provider carries the API key in its header (that is its job), via the outbox
        binding = TenantConfiguration.objects.get(tenant_id=tenant, provider__code=code)
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            delivery = delivery_enqueue(tenant_configuration=binding, endpoint="sendMessage",
                                        payload={"text": "to the provider"})
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.DELIVERED
        assert provider.requests[0].headers["x-api-key"] == api_key
        # 5. a Telegram notification goes out with the bot token in the Bot API URL
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL = bot_token, telegram.url
        ServiceBindingFactory(recipient_id=world.recipient_id, service="telegram", service_user_id="4242")
        sent = world.client("service:notifications").post("/notifications/send", {
            "user_id": world.recipient_id, "service": "telegram", "subject": "Тема", "type": "notification",
            "message": "Текст"}, format="json")
        assert sent.status_code == 200, sent.json()
        later_responses.append(sent.content)
        assert telegram.sent_messages()[0]["chat_id"] in ("4242", 4242)

    # then: every secret was really used, and none of them is in the logs or a later response
    logs = _log_text(all_logs)
    assert re.search(r'"POST /bot[0-9:]*\*\*\*\*/sendMessage', logs), "urllib3's DEBUG request line was not captured"
    leaks = {name: value for name, value in {"api key": api_key, "integration token": token,
                                             "webhook secret": webhook_secret, "bot token": bot_token,
                                             "webhook secret body": webhook_secret.removeprefix("whsec_")}.items()
             if value in logs or any(value.encode() in body for body in later_responses)}
    assert leaks == {}
