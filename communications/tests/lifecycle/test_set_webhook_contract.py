"""Issue 16 item 5: `setWebhook` carries the real authorization and one event vocabulary."""

import uuid

import pytest
from django.contrib.admin.sites import site

from communications import provider_contract as contract
from communications.endpoints import endpoint_names
from communications.models import Delivery, Webhook
from communications.services.tokens import integration_token_issue
from communications.tests.factories import ProviderConfigurationFactory, TenantConfigurationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activation(settings):
    settings.COMMUNICATIONS_PUBLIC_API_URL = "https://crm.example.ru/api/v1/"
    configuration = ProviderConfigurationFactory(
        endpoints={name: f"https://provider.example/{name}" for name in endpoint_names()}, auth_key="test-key-123456789")
    provider, tenant_id = configuration.provider, uuid.uuid4()
    TenantConfigurationFactory(tenant_id=tenant_id, provider=provider, configuration=configuration)
    issued = integration_token_issue(tenant_id=tenant_id, provider=provider)
    return issued, Delivery.objects.get(endpoint="setWebhook", tenant_id=tenant_id)


def test_set_webhook_carries_the_tenants_real_authorization_and_url(activation):
    issued, delivery = activation
    assert delivery.payload["authorization"] == f"Bearer {issued.value}"
    assert "<" not in delivery.payload["authorization"]
    assert delivery.payload["url"] == "https://crm.example.ru/api/v1/"


def test_set_webhook_events_use_the_one_event_vocabulary(activation):
    _, delivery = activation
    events = delivery.payload["events"]
    assert events == list(contract.SET_WEBHOOK_EVENTS)
    assert set(events) <= set(contract.EVENT_VOCABULARY)
    # the names shared with our webhook events are spelled the same way
    assert {"chat.seen", "message.created", "message.status_changed"} <= set(events)
    assert set(Webhook.Event.values) <= set(contract.EVENT_VOCABULARY)


def test_admin_shows_the_authorization_masked(activation, rf):
    issued, delivery = activation
    shown = site._registry[Delivery].pretty_payload(delivery)
    assert issued.value not in shown and "Bearer ****" in shown
