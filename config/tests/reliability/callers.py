"""The callers of the reliability and security suite: every kind of principal with its token, the ids of
their objects, and valid request bodies of every JSON operation.

`world_build` builds two tenants × two providers with integration tokens, two developers
with their own apps, the three service accounts and a notification recipient with a
user token. Tokens are raw strings so any client stack (APIClient, schemathesis,
a subprocess) can use them.
"""

import uuid
from dataclasses import dataclass, field

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from communications.models import ConformanceRun, Delivery, IntegrationToken
from communications.services import providers as provider_services
from communications.tests.factories import ConformanceRunFactory, DeliveryFactory, ProviderFactory, integration_create
from config.management.commands.create_service_account import service_account_ensure
from config.tests.world import configuration_data, provider_endpoints
from marketplace import services as marketplace_services
from marketplace.tests.factories import developer_client
from notifications.tests.factories import NotifyRequestFactory, RecipientFactory


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def client_for(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@dataclass
class World:
    tokens: dict[str, str] = field(default_factory=dict)  # principal name -> bearer token
    integrations: dict = field(default_factory=dict)  # "A-X" -> Integration (tenant A, provider X)
    recipient_id: str = ""
    apps: dict[str, str] = field(default_factory=dict)  # developer name -> own app code
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # owner ("A-X", "dev-2"...) -> path ids
    path_ids: dict[str, str] = field(default_factory=dict)  # path parameter -> an existing id of A-X / dev-1

    def client(self, principal: str) -> APIClient:
        return client_for(self.tokens[principal])

    def path_ids_for(self, path: str) -> dict[str, str]:
        """Existing ids of the legitimate caller of `path`: a developer's sandbox chat, message and token
        share parameter names (chat_id, message_id, token_id) with tenant A's operator and token routes."""
        own = "dev-1" if (principal_for(path) or "").startswith("developer:") else "A-X"
        return {**self.path_ids, **self.ids[own]}


def _service_token(name: str, role: str) -> str:
    return str(AccessToken.for_user(service_account_ensure(username=name, role=role)))


def world_build() -> World:
    from marketplace.models import Scope
    from notifications.services import recipient_token_issue

    world = World()
    # the data migration's row; transactional tests flush it, so make sure it is there
    Scope.objects.get_or_create(code=Scope.COMMUNICATIONS, defaults={"label": "Коммуникации"})
    provider_x, provider_y = ProviderFactory(code="prov-x"), ProviderFactory(code="prov-y")
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    for tenant_name, tenant in (("A", tenant_a), ("B", tenant_b)):
        for provider_name, provider in (("X", provider_x), ("Y", provider_y)):
            integration = integration_create(provider=provider, tenant_id=tenant)
            world.integrations[f"{tenant_name}-{provider_name}"] = integration
            world.tokens[f"integration:{tenant_name}-{provider_name}"] = integration.value
    world.tokens["service:marketplace"] = _service_token("svc-marketplace", "marketplace")
    world.tokens["service:crm"] = _service_token("svc-crm", "crm")
    world.tokens["service:notifications"] = _service_token("svc-notifications", "notifications")
    for name, company in (("dev-1", "Acme LLC"), ("dev-2", "Rival LLC")):
        dev = developer_client(name, company)
        code = f"app-{name}"
        marketplace_services.application_create(company=dev.user.provider_companies.get(), code=code,
                                                 name=f"Приложение {name}", actor=dev.user)
        world.tokens[f"developer:{name}"] = str(AccessToken.for_user(dev.user))
        world.apps[name] = code
    _objects_create(world)
    notifications_service = service_account_ensure(username="svc-notifications", role="notifications")
    for owner in ("recipient", "recipient-2"):
        recipient = RecipientFactory(email="ivan@example.com")
        notify = NotifyRequestFactory(recipient=recipient, requested_by=notifications_service)
        world.ids[owner] = {"recipient_id": str(recipient.pk), "notification_id": str(notify.pk)}
        world.tokens[owner] = str(recipient_token_issue(recipient=recipient))
    world.recipient_id = world.ids["recipient"]["recipient_id"]
    world.path_ids = {**world.ids["dev-1"], **world.ids["A-X"], **world.ids["recipient"]}
    return world


def _objects_create(world: World) -> None:
    """A channel, chat, message and webhook for every integration; a version 1.0.0 for every app."""
    from django.contrib.auth import get_user_model

    from communications.services import conversations

    for name, integration in world.integrations.items():
        scope = {"tenant_id": integration.tenant_id, "provider": integration.provider}
        ids = {"channelId": f"ch-{name}", "chatId": f"chat-{name}", "messageId": f"msg-{name}",
               "token_id": str(integration.token.jti), "chat_id": f"chat-{name}"}
        conversations.channel_connect(**scope, external_id=ids["channelId"], code="telegram", name=f"Канал {name}")
        message, _ = conversations.message_create(**scope, data={
            "external_id": ids["messageId"], "text": f"Текст {name}", "direction": "incoming", "sender_id": "u-1",
            "sent_at": None, "status": "sent",
            "chat": {"external_id": ids["chatId"], "channel_id": ids["channelId"], "title": f"Чат {name}",
                     "type": "private", "metadata": {},
                     "participants": [{"external_id": "u-1", "name": "Иван", "username": "", "phone": "",
                                       "metadata": {}}]}})
        conversations.webhook_set(**scope, url="https://provider.example/hook", events=["chat.seen"])
        ids["message_id"] = str(message.pk)  # the operator API addresses messages by our id
        world.ids[name] = ids
    for dev, code in world.apps.items():
        application = get_user_model().objects.get(username=dev).provider_companies.get().applications.get()
        marketplace_services.app_version_create(application=application, version="1.0.0",
                                                scopes=["communications"])
        configuration = provider_services.provider_configuration_upload(
            app_code=code, app_version="1.0.0", mode="create", data=configuration_data(provider_endpoints()))
        # a finished test-stand report of this app
        run = ConformanceRunFactory(configuration=configuration, origin=ConformanceRun.Origin.DEVELOPER)
        world.ids[dev] = {"code": code, "version": "1.0.0", "run_id": str(run.pk)}
        # issue 17: a call to this developer's endpoint and a sandbox token and chat of its company
        company = application.company
        delivery = DeliveryFactory(tenant_configuration=None, provider=configuration.provider,
                                   configuration=configuration, tenant_id=uuid.uuid4(), status=Delivery.Status.DEAD)
        token = IntegrationToken.objects.create(tenant_id=company.sandbox_tenant_id, provider=configuration.provider)
        sandbox_message, _ = conversations.message_create(
            tenant_id=company.sandbox_tenant_id, provider=configuration.provider, data={
                "external_id": f"msg-{dev}", "text": "Песочница", "direction": "incoming", "sender_id": "u-1",
                "sent_at": None, "status": "sent",
                "chat": {"external_id": f"chat-{dev}", "channel_id": None, "title": "Чат", "type": "private",
                         "metadata": {}, "participants": []}})
        world.ids[dev].update({"delivery_id": str(delivery.pk), "token_id": str(token.jti),
                               "message_id": str(sandbox_message.pk), "chat_id": f"chat-{dev}"})


# Who is the legitimate caller of each API surface (longest prefix wins).
SURFACE_PRINCIPALS = {
    "/api/v1/": "integration:A-X",
    "/internal/v1/marketplace/installations": "service:marketplace",
    "/internal/v1/marketplace/": "developer:dev-1",
    "/internal/v1/integration-tokens": "service:crm",
    "/internal/v1/operator/": "service:crm",
    "/internal/v1/": "service:marketplace",
    "/notifications/": "service:notifications",
    "/notifications/preferences": "recipient",
}


def principal_for(path: str) -> str | None:
    """The principal that may call `path`; None for the unauthenticated auth endpoints."""
    if path.startswith("/internal/v1/marketplace/signup"):
        return None  # developer sign-up is public (throttled): docs/developer-portal.md
    matches = [prefix for prefix in SURFACE_PRINCIPALS if path.startswith(prefix)]
    return SURFACE_PRINCIPALS[max(matches, key=len)] if matches else None


def api_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def json_operations() -> list[tuple[str, str]]:
    """(schema path, METHOD) of every operation with a JSON request body (file uploads are multipart only:
    communications/tests/attachments covers their limits)."""
    return sorted((path, method.upper()) for path, ops in api_schema()["paths"].items()
                  for method, op in ops.items()
                  if isinstance(op, dict) and "application/json" in op.get("requestBody", {}).get("content", {}))


def caller_client(world: World, path: str):
    """A Django test client with the credentials of the legitimate caller of `path`."""
    from django.test import Client

    return Client(headers=bearer(world.tokens[principal_for(path)]) if principal_for(path) else {})


def valid_bodies(world: World) -> dict[tuple[str, str], dict]:
    """A valid request body for every operation that takes one, keyed by (schema path, METHOD)."""
    from marketplace.models import ProviderCompany

    message = {"id": "msg-new", "text": "Привет", "senderId": "u-1",
               "chat": {"id": "chat-new", "title": "Чат", "type": "private",
                        "participants": [{"id": "u-1", "name": "Иван", "username": "ivan", "phone": "+7999"}]}}
    tenant_a = str(world.integrations["A-X"].tenant_id)
    operator = {"tenantId": tenant_a, "providerCode": "prov-x"}
    installation = {"tenantId": tenant_a, "appCode": world.apps["dev-1"], "appVersion": "1.0.0"}
    sandbox = {"appCode": world.apps["dev-1"]}
    configuration = {
        "appCode": world.apps["dev-1"], "appVersion": "1.0.0", "configurationVersion": "1.0.0",
        "providerLabel": "Acme", "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": "k-123456789"},
        "endpoints": {name: f"https://provider.example/{name}" for name in (
            "sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead", "disconnect",
            "getChannels")}}
    return {
        ("/api/auth/token/", "POST"): {"username": "dev-1", "password": "pass-12345-word"},
        ("/api/auth/token/refresh/", "POST"): {"refresh": "not-a-token"},
        ("/api/v1/channels", "POST"): {"id": "ch-new", "code": "telegram", "name": "Канал"},
        ("/api/v1/channels/{channelId}", "PATCH"): {"name": "Новое название канала"},
        ("/api/v1/chats", "POST"): message["chat"],
        ("/api/v1/chats/{chatId}", "PATCH"): {"title": "Новое название"},
        ("/api/v1/messages", "POST"): message,
        ("/api/v1/messages/{messageId}", "PATCH"): {"text": "Новый текст"},
        ("/api/v1/messages/{messageId}/status", "POST"): {"status": "failed", "error": "Ошибка"},
        ("/api/v1/webhooks", "POST"): {"url": "https://provider.example/events", "events": ["chat.seen"]},
        ("/api/v1/bulk/messages", "POST"): {"messages": [message]},
        ("/internal/v1/providers", "POST"): {"code": "new-provider", "label": "Новый"},
        ("/internal/v1/app-versions", "POST"): {"appCode": world.apps["dev-1"], "appVersion": "2.0.0"},
        ("/internal/v1/tenant-configurations", "POST"): installation,
        ("/internal/v1/tenant-configurations", "PUT"): installation,
        ("/internal/v1/integration-tokens", "POST"): {"tenantId": tenant_a, "providerCode": "prov-x"},
        ("/internal/v1/marketplace/apps", "POST"): {"code": "new-app", "name": "Новое приложение"},
        ("/internal/v1/marketplace/apps/{code}/versions", "POST"): {"version": "2.0.0"},
        ("/internal/v1/marketplace/apps/{code}/versions/{version}/scopes", "PUT"): {"scopes": ["communications"]},
        ("/internal/v1/marketplace/provider-configurations", "POST"): configuration,
        ("/internal/v1/marketplace/provider-configurations", "PUT"): {**configuration, "configurationVersion": "1.1.0"},
        ("/internal/v1/marketplace/installations", "POST"): installation,
        ("/internal/v1/marketplace/installations", "PUT"): installation,
        ("/internal/v1/marketplace/signup", "POST"): {"email": "new@example.com", "password": "Long-pass-2026",
                                                      "companyName": "Новая компания"},
        ("/internal/v1/marketplace/signup/confirm", "POST"): {"token": "not-a-token"},
        ("/internal/v1/marketplace/sandbox/installations", "POST"): {"appCode": world.apps["dev-1"],
                                                                     "appVersion": "1.0.0"},
        ("/internal/v1/marketplace/sandbox/tokens", "POST"): {"appCode": world.apps["dev-1"]},
        ("/internal/v1/marketplace/sandbox/reset", "POST"): {"companyId": ProviderCompany.objects.get(
            applications__code=world.apps["dev-1"]).pk},
        ("/internal/v1/marketplace/sandbox/operator/messages", "POST"): {**sandbox, "chatId": "chat-1", "text": "Ответ"},
        ("/internal/v1/marketplace/sandbox/operator/messages/{message_id}", "PUT"): {**sandbox, "text": "Исправлено"},
        ("/internal/v1/marketplace/sandbox/operator/messages/{message_id}/status", "POST"): {**sandbox,
                                                                                             "status": "read"},
        ("/internal/v1/marketplace/sandbox/operator/chats/{chat_id}/read", "POST"): sandbox,
        ("/internal/v1/marketplace/sandbox/operator/broadcast", "POST"): {**sandbox, "chatIds": ["chat-1"],
                                                                          "text": "Всем"},
        ("/internal/v1/operator/chats/{chat_id}/messages", "POST"): {**operator, "text": "Ответ оператора"},
        ("/internal/v1/operator/chats/{chat_id}/read", "POST"): operator,
        ("/internal/v1/operator/messages/{message_id}", "PATCH"): {**operator, "text": "Исправлено"},
        ("/internal/v1/operator/messages/{message_id}/status", "POST"): {**operator, "status": "read"},
        ("/internal/v1/operator/broadcasts", "POST"): {**operator, "text": "Всем", "chatIds": ["chat-A-X"]},
        ("/notifications/send", "POST"): {"user_id": world.recipient_id, "service": "email", "subject": "Тема",
                                          "type": "notification", "message": "Текст"},
        ("/notifications/subscribe", "POST"): {"user_id": world.recipient_id, "device_id": "device-1"},
        ("/notifications/recipients/{recipient_id}", "PUT"): {"role": "user", "email": "a@example.com",
                                                             "name": "Иван"},
        ("/notifications/notify", "POST"): {"user_id": world.recipient_id, "type": "notification", "subject": "Тема",
                                            "message": "Текст"},
        ("/notifications/callback", "PUT"): {"callback_url": "https://hooks.example/notifications"},
        ("/notifications/preferences", "PUT"): {"preferences": [
            {"type": "notification", "channel": "email", "enabled": False}]},
    }


def valid_query(world: World, path: str) -> dict:
    """The scope a call needs to reach its objects: the operator API's tenant and provider (query of a GET,
    body otherwise), the sandbox operator's app (body; its routes are POST and PUT only)."""
    if path.startswith("/internal/v1/operator/"):
        return {"tenantId": str(world.integrations["A-X"].tenant_id), "providerCode": "prov-x"}
    if path.startswith("/internal/v1/marketplace/sandbox/operator/"):
        return {"appCode": world.apps["dev-1"]}
    return {}


def url_of(world: World, path: str) -> str:
    for name, value in world.path_ids_for(path).items():
        path = path.replace("{" + name + "}", value)
    return path


def row_counts() -> dict[str, int]:
    """Rows of every model of the project's apps: any write shows up here."""
    from django.apps import apps

    return {model._meta.label: model.objects.count() for app in ("communications", "marketplace", "notifications",
                                                                  "bots", "auth")
            for model in apps.get_app_config(app).get_models()}


def body_sweep(world: World, path: str, method: str, variants, acceptable) -> list[str]:
    """Send every variant (name, data, content type, *detail) of a body to the operation as its legitimate caller.

    Returns a line for each answer `acceptable(name, response, body, *detail)` rejects (`body`: the parsed JSON
    answer, None when it is not JSON), and one more when any row was written.
    """
    client = caller_client(world, path)
    url = url_of(world, path)
    before = row_counts()
    problems = []
    for name, data, content_type, *detail in variants:
        response = client.generic(method, url, data=data, content_type=content_type)
        body = response.json() if response.get("Content-Type", "").startswith("application/json") else None
        if not acceptable(name, response, body, *detail):
            problems.append(f"{name}: {response.status_code} {response.content[:200]!r}")
    after = row_counts()
    if after != before:
        problems.append(f"rows written: { {k: (before[k], v) for k, v in after.items() if before[k] != v} }")
    return problems


def is_error_envelope(body) -> bool:
    """The project envelope, or the notification service's spec body for send/subscribe."""
    if not isinstance(body, dict):
        return False
    if isinstance(body.get("error"), dict):
        return {"code", "message"} <= set(body["error"])
    return body.get("status") == "error" and isinstance(body.get("message"), str)


def fingerprint() -> dict[str, list]:
    """Every row of every table of the project's apps: "nothing changed" means this is equal."""
    from django.apps import apps

    return {model._meta.label: list(model.objects.order_by("pk").values())
            for app in ("communications", "marketplace", "notifications", "bots")
            for model in apps.get_app_config(app).get_models()}
