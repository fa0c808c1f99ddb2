import uuid
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from communications.models import IntegrationToken, Provider
from communications.services.tokens import integration_token_issue

from .factories import provider_create, tenant_configuration_create


@dataclass
class Integration:
    client: APIClient
    tenant_id: uuid.UUID
    provider: Provider
    token: IntegrationToken
    value: str


def integration_create(*, provider: Provider | None = None, tenant_id: uuid.UUID | None = None) -> Integration:
    provider = provider or provider_create()
    tenant_id = tenant_id or uuid.uuid4()
    tenant_configuration_create(provider=provider, tenant_id=tenant_id)
    issued = integration_token_issue(tenant_id=tenant_id, provider=provider)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.value}")
    return Integration(client=client, tenant_id=tenant_id, provider=provider, token=issued.token, value=issued.value)


@pytest.fixture
def integration(db) -> Integration:
    """A tenant's active integration with a provider and an API client carrying its token."""
    return integration_create()


@pytest.fixture
def api(integration) -> APIClient:
    return integration.client


@pytest.fixture
def other_tenant(integration) -> Integration:
    """The same provider, another tenant."""
    return integration_create(provider=integration.provider)


@pytest.fixture
def other_provider(integration) -> Integration:
    """The same tenant, another provider."""
    return integration_create(tenant_id=integration.tenant_id)


def chat_payload(chat_id="chat-1", participants=2, **extra):
    return {"id": chat_id, "title": "Чат", "type": "private",
            "participants": [{"id": f"user-{i}", "name": f"Участник {i}"} for i in range(participants)], **extra}


def message_payload(message_id="msg-1", chat_id="chat-1", participants=2, text="Привет", **extra):
    return {"id": message_id, "chat": chat_payload(chat_id, participants), "text": text, "senderId": "user-0",
            **extra}
