"""Fixtures shared by the communications tests: integrations with their API clients (thin wrappers over
communications.tests.factories). The loopback provider (`fake_provider`) and `fast` retries are in the
root conftest.py."""

import pytest

from communications.models import Delivery
from communications.tests.factories import Integration, chat_make, integration_create, provider_setup, tenant_install


@pytest.fixture
def integration(db) -> Integration:
    """A tenant's active integration with a provider and an API client carrying its token."""
    return integration_create()


@pytest.fixture
def api(integration):
    return integration.client


@pytest.fixture
def other_tenant(integration) -> Integration:
    """The same provider, another tenant."""
    return integration_create(provider=integration.provider)


@pytest.fixture
def other_provider(integration) -> Integration:
    """The same tenant, another provider."""
    return integration_create(tenant_id=integration.tenant_id)


@pytest.fixture
def setup(db, fake_provider):
    """(provider, tenant_id, token): an active integration with two chats, chat-1 and chat-2, against the fake."""
    provider = provider_setup(fake_provider)
    tenant_id, token = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    chat_make(tenant_id, provider, "chat-2")
    return provider, tenant_id, token


@pytest.fixture
def chat(fast, setup):
    """(tenant_id, provider) of `setup`, with none of the delivery rows the activation queued (its own calls)."""
    provider, tenant_id, _ = setup
    Delivery.objects.all().delete()
    return tenant_id, provider
