import uuid

import pytest
from django.contrib.auth import get_user_model

from communications.models import Account, IntegrationToken
from communications.tests.factories import ProviderFactory, TenantConfigurationFactory, message_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("moderator", "m@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_issues_token_showing_value_once(admin_client):
    # given
    provider = ProviderFactory()
    tenant = TenantConfigurationFactory(provider=provider).tenant_id
    # when
    response = admin_client.post("/admin/communications/integrationtoken/issue/",
                                 {"tenant_id": str(tenant), "provider": provider.pk})
    # then
    assert response.status_code == 200
    token = IntegrationToken.objects.get(tenant_id=tenant)
    value = response.context["issued"].value
    assert value in response.content.decode() and token.status == "active"
    assert Account.objects.filter(tenant_id=tenant, kind="main", is_active=True).exists()
    # the list and the detail page never show it again
    listing = admin_client.get("/admin/communications/integrationtoken/").content.decode()
    detail = admin_client.get(f"/admin/communications/integrationtoken/{token.pk}/change/").content.decode()
    assert str(token.jti) in listing and value not in listing and value not in detail


def test_admin_issue_without_configuration_shows_error(admin_client):
    provider = ProviderFactory()
    response = admin_client.post("/admin/communications/integrationtoken/issue/",
                                 {"tenant_id": str(uuid.uuid4()), "provider": provider.pk})
    assert response.status_code == 200
    assert "нет активной конфигурации" in response.content.decode()
    assert not IntegrationToken.objects.exists()


def test_admin_deactivate_action(admin_client, integration):
    response = admin_client.post("/admin/communications/integrationtoken/", {
        "action": "deactivate_tokens", "_selected_action": [integration.token.pk]}, follow=True)
    assert response.status_code == 200
    integration.token.refresh_from_db()
    assert integration.token.status == "deactivated"
    assert integration.client.get("/api/v1/webhooks").status_code == 401


def test_support_views_render_in_russian(admin_client, api):
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram"}, format="json")
    api.post("/api/v1/channels", {"id": "x-1", "code": "strange"}, format="json")
    api.post("/api/v1/messages", message_payload("m-1", "c-1"), format="json")
    api.post("/api/v1/messages/m-1/status", {"status": "failed", "error": "Ошибка доставки"}, format="json")
    api.post("/api/v1/webhooks", {"url": "https://p.example/h", "events": ["chat.seen"]}, format="json")
    channels = admin_client.get("/admin/communications/channel/").content.decode()
    assert "communications/channels/telegram.svg" in channels and "communications/channels/unknown.svg" in channels
    for url in ("account", "chat", "message", "messagestatushistory", "webhook"):
        response = admin_client.get(f"/admin/communications/{url}/")
        assert response.status_code == 200, url
    chat_id = admin_client.get("/admin/communications/chat/").context["cl"].result_list[0].pk
    chat_page = admin_client.get(f"/admin/communications/chat/{chat_id}/change/").content.decode()
    assert "user-1" in chat_page and "m-1" in chat_page
    history = admin_client.get("/admin/communications/messagestatushistory/").content.decode()
    assert "Ошибка доставки" in history
    assert admin_client.get("/admin/communications/message/add/").status_code == 403
    webhook = admin_client.get("/admin/communications/webhook/").context["cl"].result_list[0]
    page = admin_client.get(f"/admin/communications/webhook/{webhook.pk}/change/").content.decode()
    assert "https://p.example/h" in page and webhook.secret not in page
