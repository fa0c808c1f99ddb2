import time
import uuid

import pytest

from config.testing.fake_provider import ENDPOINTS, FakeProvider


@pytest.fixture
def fake_provider():
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fast(settings):
    """Loopback allowed (the fake listens on 127.0.0.1), retries in fractions of a second."""
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.DELIVERY_RETRY_SCHEDULE = [0.2] * 9
    settings.DELIVERY_RETRY_JITTER = 0
    settings.DELIVERY_SWEEP_GRACE = 0
    settings.PROVIDER_READ_TIMEOUT = 3
    settings.INITIAL_SYNC_RETRY_DELAY = 0.2
    return settings


@pytest.fixture
def setup(db, fake_provider):
    """(provider, tenant_id, token): an active integration with two chats, chat-1 and chat-2."""
    provider = provider_setup(fake_provider)
    tenant_id, token = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    chat_make(tenant_id, provider, "chat-2")
    return provider, tenant_id, token


def provider_setup(fake: FakeProvider, *, endpoints=ENDPOINTS):
    """A registered provider (with its signing secret) whose configuration points at the fake."""
    from communications.models import ProviderConfiguration
    from communications.services.providers import provider_register

    code = f"prov-{uuid.uuid4().hex[:8]}"
    provider, _ = provider_register(code=code, label=f"Провайдер {code}")
    ProviderConfiguration.objects.create(
        provider=provider, app_code=code, app_version="1.0.0", configuration_version="1.0.0",
        provider_label=provider.label, endpoints=fake.endpoints(endpoints),
        auth_header="X-API-Key", auth_key="api-key-of-the-provider-1234",
    )
    return provider


def tenant_install(provider, tenant_id=None):
    """Install the app for a tenant and activate its integration (issues the token)."""
    from communications.models import TenantConfiguration
    from communications.services.tokens import integration_token_issue

    tenant_id = tenant_id or uuid.uuid4()
    TenantConfiguration.objects.create(tenant_id=tenant_id, provider=provider,
                                       configuration=provider.configurations.get(), app_version="1.0.0")
    issued = integration_token_issue(tenant_id=tenant_id, provider=provider)
    return tenant_id, issued.token


def chat_make(tenant_id, provider, chat_id="chat-1", channel_id=None):
    from communications.services.conversations import chat_create

    chat, _ = chat_create(tenant_id=tenant_id, provider=provider,
                          chat={"external_id": chat_id, "channel_id": channel_id, "title": f"Чат {chat_id}",
                                "participants": [{"external_id": "client-1", "name": "Клиент"}]})
    return chat


def signing_secret(provider) -> str:
    return provider.signing_secrets.order_by("-created_at").values_list("secret", flat=True).first()


def wait_until(predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")
