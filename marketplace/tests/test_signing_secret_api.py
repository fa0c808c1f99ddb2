"""A developer gets the secret our calls to their provider are signed with: once, for their own app only."""

import logging

import pytest
from standardwebhooks import Webhook

from communications import clients
from communications.models import ProviderSigningSecret
from communications.services.deliveries import provider_signing_secrets
from config.testing.fake_provider import FakeProvider
from marketplace.tests.factories import API

pytestmark = pytest.mark.django_db
URL = f"{API}/apps/acme/signing-secret"


def signed_call(fake: FakeProvider, settings):
    """A real call signed the way every provider call is signed; returns what the provider received."""
    from communications.models import Provider

    settings.PROVIDER_ALLOW_LOOPBACK = True
    secrets = provider_signing_secrets(provider=Provider.objects.get(code="acme"))
    clients.post_json(url=f"{fake.url}/sendMessage", payload={"text": "Привет"}, idempotency_key="call-1",
                      signing_secrets=secrets)
    return fake.requests[-1]


def test_developer_gets_the_secret_once_and_it_verifies_our_calls(developer, version, settings, caplog):
    caplog.set_level(logging.DEBUG)
    # when
    response = developer.post(URL)
    # then: shown in the answer (never cached) ...
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["appCode"] == "acme" and body["secret"].startswith("whsec_") and body["previousValidHours"] == 24
    assert response["Cache-Control"] == "no-store"
    # ... it verifies a real signed call with the Standard Webhooks library ...
    with FakeProvider() as fake:
        received = signed_call(fake, settings)
    assert Webhook(body["secret"]).verify(received.body, received.headers) == {"text": "Привет"}
    # ... and it is never logged
    assert body["secret"] not in caplog.text


def test_previous_secret_keeps_verifying_after_a_rotation(developer, version, settings):
    first = developer.post(URL).json()["secret"]
    second = developer.post(URL).json()["secret"]
    with FakeProvider() as fake:
        received = signed_call(fake, settings)
    assert first != second
    for secret in (first, second):  # both signatures are on the call during the overlap
        assert Webhook(secret).verify(received.body, received.headers) == {"text": "Привет"}


def test_someone_elses_app_is_404_and_rotates_nothing(developer, other_developer, version):
    before = list(ProviderSigningSecret.objects.values_list("pk", "expires_at"))
    response = other_developer.post(URL)
    assert response.status_code == 404 and response.json()["error"]["code"] == "application_not_found"
    assert list(ProviderSigningSecret.objects.values_list("pk", "expires_at")) == before


def test_app_without_the_communications_scope_has_no_secret(developer, app):
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    response = developer.post(URL)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "communications_scope_disabled" and "code" in error["fields"]
    assert not ProviderSigningSecret.objects.exists()


def test_anonymous_and_read_requests_are_refused(client, developer, version):
    assert client.post(URL).status_code == 401
    assert developer.get(URL).status_code == 405
