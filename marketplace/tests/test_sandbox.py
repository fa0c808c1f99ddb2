"""The developer sandbox: unpublished versions installed in the company's own tenant, the public API with a
sandbox token, operator actions reaching the provider through the engine, limits, reset and isolation."""

import uuid

import pytest
from rest_framework.test import APIClient

from communications.models import Chat, Provider, TenantConfiguration
from communications.services.tokens import integration_token_issue
from marketplace import gateway, services
from marketplace.models import Installation
from marketplace.tests.factories import API, configuration, record_passed_test_run

pytestmark = pytest.mark.django_db
SANDBOX = f"{API}/sandbox"


@pytest.fixture
def draft(developer, version, fake):
    """acme 1.0.0: configured against the loopback provider, never submitted nor published."""
    response = developer.post(f"{API}/provider-configurations", configuration(endpoints=fake.endpoints()),
                              format="json")
    assert response.status_code == 201, response.json()
    assert not version.is_published
    return version


@pytest.fixture
def installed(developer, draft, commit):
    response = commit(lambda: developer.post(f"{SANDBOX}/installations", {"appCode": "acme", "appVersion": "1.0.0"},
                                             format="json"))
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def token(developer, installed, commit):
    response = commit(lambda: developer.post(f"{SANDBOX}/tokens", {"appCode": "acme"}, format="json"))
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def _provider_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _chat(token: str, chat_id="chat-1"):
    body = {"id": chat_id, "title": "Чат", "type": "private", "participants": [{"id": "u-1", "name": "Аня"}]}
    response = _provider_client(token).post("/api/v1/chats", body, format="json")
    assert response.status_code in (200, 201), response.json()


def test_unpublished_version_installs_in_the_company_sandbox_only(developer, installed):
    sandbox = developer.user.provider_companies.get().sandbox_tenant_id
    assert installed["tenantId"] == str(sandbox)
    assert installed["installations"] == [{"appCode": "acme", "appVersion": "1.0.0", "status": "installed",
                                           "published": False}]
    assert TenantConfiguration.objects.get(provider__code="acme").tenant_id == sandbox
    # the production installations API still refuses an unpublished version
    assert Installation.objects.get().tenant_id == sandbox


def test_sandbox_token_works_on_the_public_api_and_operator_send_reaches_the_provider(developer, token, fake,
                                                                                      commit):
    _chat(token)
    # when
    response = commit(lambda: developer.post(f"{SANDBOX}/operator/messages",
                                             {"appCode": "acme", "chatId": "chat-1", "text": "Здравствуйте"},
                                             format="json"))
    # then
    assert response.status_code == 201, response.json()
    sent = fake.accepted_list("sendMessage")
    assert len(sent) == 1 and sent[0].json["text"] == "Здравствуйте"
    headers = {name.lower(): value for name, value in sent[0].headers.items()}
    assert headers["webhook-signature"].startswith("v1,")  # signed like production
    assert headers["x-api-key"] == "super-secret-provider-key-123"
    log = developer.get(f"{API}/deliveries?tenant=sandbox&endpoint=sendMessage").json()
    assert log["count"] == 1 and log["results"][0]["status"] == "delivered"
    # edit, status, read and broadcast go through the same operator services
    message_id = response.json()["id"]
    edit = commit(lambda: developer.put(f"{SANDBOX}/operator/messages/{message_id}",
                                        {"appCode": "acme", "text": "Добрый день"}, format="json"))
    status = commit(lambda: developer.post(f"{SANDBOX}/operator/messages/{message_id}/status",
                                           {"appCode": "acme", "status": "read"}, format="json"))
    read = commit(lambda: developer.post(f"{SANDBOX}/operator/chats/chat-1/read", {"appCode": "acme"},
                                         format="json"))
    broadcast = commit(lambda: developer.post(f"{SANDBOX}/operator/broadcast",
                                              {"appCode": "acme", "chatIds": ["chat-1"], "text": "Всем"},
                                              format="json"))
    assert [r.status_code for r in (edit, status, read, broadcast)] == [200, 200, 200, 201], \
        [r.json() for r in (edit, status, read, broadcast)]
    assert fake.accepted_list("updateMessageContent")


def test_sandbox_data_never_shows_in_a_real_tenant_operator_api(developer, draft, token, crm_client, commit):
    # given: the same version published and installed by a real tenant with its own token and chat
    services.app_version_approve(version=draft, actor=developer.user)
    services.app_version_mark_tested(version=draft, actor=developer.user, side="provider")
    record_passed_test_run(draft)
    services.app_version_mark_tested(version=draft, actor=developer.user, side="sbercrm")
    services.app_version_publish(version=draft, actor=developer.user)
    real_tenant = uuid.uuid4()
    commit(lambda: services.installation_install(tenant_id=real_tenant, version=draft))
    real_token = commit(lambda: integration_token_issue(tenant_id=real_tenant,
                                                        provider=Provider.objects.get(code="acme"))).value
    _chat(token, "sandbox-chat")
    _chat(real_token, "real-chat")
    # when
    chats = crm_client.get(f"/internal/v1/operator/chats?tenantId={real_tenant}&providerCode=acme")
    send = crm_client.post("/internal/v1/operator/chats/sandbox-chat/messages",
                           {"tenantId": str(real_tenant), "providerCode": "acme", "text": "x"}, format="json")
    # then
    assert chats.status_code == 200, chats.json()
    body = chats.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [row["id"] for row in rows] == ["real-chat"]
    assert send.status_code == 404


def test_message_limit_is_429_with_the_envelope(developer, token, settings, commit):
    settings.SANDBOX_MAX_MESSAGES_PER_DAY = 1
    _chat(token)
    first = commit(lambda: developer.post(f"{SANDBOX}/operator/messages",
                                          {"appCode": "acme", "chatId": "chat-1", "text": "1"}, format="json"))
    second = developer.post(f"{SANDBOX}/operator/messages", {"appCode": "acme", "chatId": "chat-1", "text": "2"},
                            format="json")
    assert first.status_code == 201
    assert second.status_code == 429
    error = second.json()["error"]
    assert error["code"] == "sandbox_message_limit" and error["limit"] == 1 and error["retry_after"] > 0


def test_token_limit_is_429_and_chat_limit_is_409(developer, token, settings, commit):
    settings.SANDBOX_MAX_TOKENS_PER_DAY = 1
    again = developer.post(f"{SANDBOX}/tokens", {"appCode": "acme"}, format="json")
    assert again.status_code == 429 and again.json()["error"]["code"] == "sandbox_token_limit"
    _chat(token, "chat-1")
    _chat(token, "chat-2")
    settings.SANDBOX_MAX_CHATS = 1  # lowered below what the sandbox already has
    over = developer.post(f"{SANDBOX}/operator/messages", {"appCode": "acme", "chatId": "chat-1", "text": "x"},
                          format="json")
    assert over.status_code == 409 and over.json()["error"]["code"] == "sandbox_chat_limit"


def test_public_api_creates_no_chat_past_the_sandbox_limit(installed, token, settings):
    # given: a sandbox allowed one chat, which it has
    settings.SANDBOX_MAX_CHATS = 1
    provider = _provider_client(token)
    _chat(token, "chat-1")
    message = {"id": "m-1", "text": "Привет", "senderId": "u-1", "chat": {"id": "chat-2", "type": "private"}}
    # when: a new chat, directly, inside a message and inside a bulk
    direct = provider.post("/api/v1/chats", {"id": "chat-2", "type": "private"}, format="json")
    inside = provider.post("/api/v1/messages", message, format="json")
    bulk = provider.post("/api/v1/bulk/messages", {"messages": [
        {**message, "id": "m-2", "chat": {"id": "chat-1", "type": "private"}}, {**message, "id": "m-3"}]},
        format="json")
    # then: 409 naming the field and the limit; the existing chat still takes messages
    assert direct.status_code == 409, direct.json()
    error = direct.json()["error"]
    assert error["code"] == "sandbox_chat_limit" and error["limit"] == 1 and list(error["fields"]) == ["id"]
    assert inside.status_code == 409
    assert inside.json()["error"]["fields"]["chat"]["id"]
    assert bulk.status_code == 200, bulk.json()
    results = {item["id"]: item for item in bulk.json()["results"]}
    assert results["m-2"]["result"] == "created"
    assert results["m-3"]["result"] == "error" and results["m-3"]["errors"]["chat"]["id"]
    assert list(Chat.objects.filter(tenant_id=uuid.UUID(installed["tenantId"])).values_list(
        "external_id", flat=True)) == ["chat-1"]


def test_a_real_tenant_has_no_sandbox_chat_limit(installed, settings):
    settings.SANDBOX_MAX_CHATS = 1
    real_tenant = uuid.uuid4()
    gateway.tenant_configuration_create(tenant_id=real_tenant, app_code="acme", app_version="1.0.0")
    real = integration_token_issue(tenant_id=real_tenant, provider=Provider.objects.get(code="acme")).value
    _chat(real, "chat-1")
    _chat(real, "chat-2")  # would be over the limit in a sandbox
    assert Chat.objects.filter(tenant_id=real_tenant).count() == 2


def test_revoked_sandbox_token_gets_401_on_the_public_api(developer, token, commit):
    token_id = developer.get(SANDBOX).json()["tokens"][0]["id"]
    revoked = commit(lambda: developer.delete(f"{SANDBOX}/tokens/{token_id}"))
    assert revoked.status_code == 200 and revoked.json()["status"] == "deactivated"
    assert _provider_client(token).post("/api/v1/chats", {"id": "c", "participants": []},
                                        format="json").status_code == 401


def test_reset_uninstalls_revokes_and_deletes_the_chats(developer, token, fake, commit):
    _chat(token)
    response = commit(lambda: developer.post(f"{SANDBOX}/reset", {}, format="json"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["deletedChats"] == 1 and body["installations"][0]["status"] == "disabled"
    assert all(t["status"] != "active" for t in body["tokens"])
    assert not Chat.objects.exists() and fake.accepted_list("disconnect")
    again = commit(lambda: developer.post(f"{SANDBOX}/installations", {"appCode": "acme", "appVersion": "1.0.0"},
                                          format="json"))
    assert again.status_code == 200 and again.json()["installations"][0]["status"] == "installed"


def test_another_company_cannot_touch_the_sandbox(developer, other_developer, token, commit):
    token_id = developer.get(SANDBOX).json()["tokens"][0]["id"]
    install = other_developer.post(f"{SANDBOX}/installations", {"appCode": "acme", "appVersion": "1.0.0"},
                                   format="json")
    issue = other_developer.post(f"{SANDBOX}/tokens", {"appCode": "acme"}, format="json")
    send = other_developer.post(f"{SANDBOX}/operator/messages", {"appCode": "acme", "chatId": "chat-1", "text": "x"},
                                format="json")
    revoke = other_developer.delete(f"{SANDBOX}/tokens/{token_id}")
    assert [r.status_code for r in (install, issue, send, revoke)] == [404, 404, 404, 404]
    mine = other_developer.get(SANDBOX).json()
    assert mine["tenantId"] != developer.get(SANDBOX).json()["tenantId"] and mine["tokens"] == []
    other_developer.post(f"{SANDBOX}/reset", {}, format="json")
    assert developer.get(SANDBOX).json()["tokens"][0]["status"] == "active"


def test_moderators_installation_list_shows_customers_unless_asked_for_sandboxes(admin_client, installed):
    production = admin_client.get("/admin/marketplace/installation/")
    sandboxes = admin_client.get("/admin/marketplace/installation/?tenants=sandbox")
    assert production.status_code == 200 and installed["tenantId"] not in production.content.decode()
    assert installed["tenantId"] in sandboxes.content.decode()
