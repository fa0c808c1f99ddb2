"""Issue 16, items 3 and 4: the API-key header and the endpoint URLs are vetted at upload."""

import pytest

from communications.models import ProviderConfiguration
from communications.services import providers as services
from communications.tests.factories import SECRET_KEY, configuration_payload
from config.errors import ApplicationError

pytestmark = pytest.mark.django_db


def _with_header(name):
    return configuration_payload(auth={"type": "API_KEY", "headerName": name, "key": SECRET_KEY})


@pytest.mark.parametrize("header", [
    "webhook-signature", "Webhook-Id", "webhook-timestamp", "Content-Length", "content-type", "Host",
    "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization",
    "Idempotency-Key", "X-SberCRM-Tenant", "x-sbercrm-anything", "Authorization ", "X(Key)", "X-Ключ",
    "X-Key\t", "",
])
def test_reserved_or_invalid_key_header_is_refused_naming_the_field(provider, header):
    with pytest.raises(ApplicationError) as error:
        services.provider_configuration_upload(app_code="acme", app_version="1.0.0", mode="create",
                                               data=_with_header(header))
    assert "auth.headerName" in error.value.fields
    assert not ProviderConfiguration.objects.exists()


@pytest.mark.parametrize("header", ["X-Api-Key", "Authorization", "X-Provider-Token", "apikey"])
def test_ordinary_key_header_is_accepted(provider, header):
    cleaned = services.configuration_validate(data=_with_header(header))
    assert cleaned["auth_header"] == header


@pytest.mark.parametrize(("url", "reason"), [
    ("https://u:p@provider.example/send", "учётные данные в URL не разрешены"),
    ("https://user@provider.example/send", "учётные данные в URL не разрешены"),
    ("http://10.0.0.1/send", "SSRF"),
    ("http://192.168.1.5:8080/send", "SSRF"),
    ("http://169.254.169.254/latest/meta-data/", "SSRF"),
    ("http://[fd00::1]/send", "SSRF"),
    ("http://167772161/send", "SSRF"),  # decimal 10.0.0.1
])
def test_unsafe_endpoint_url_is_refused_at_upload_with_the_guard_reason(provider, url, reason):
    data = configuration_payload()
    data["endpoints"]["sendMessage"] = url
    with pytest.raises(ApplicationError) as error:
        services.provider_configuration_upload(app_code="acme", app_version="1.0.0", mode="create", data=data)
    assert reason in error.value.fields["endpoints.sendMessage"][0]
    assert not ProviderConfiguration.objects.exists()


def test_loopback_url_is_refused_when_loopback_is_not_allowed(provider, settings):
    settings.PROVIDER_ALLOW_LOOPBACK = False
    data = configuration_payload()
    data["endpoints"]["getChannels"] = "http://127.0.0.1:9000/channels"
    with pytest.raises(ApplicationError) as error:
        services.configuration_validate(data=data)
    assert "SSRF" in error.value.fields["endpoints.getChannels"][0]


def test_unresolvable_host_is_accepted_at_upload(provider):
    """DNS may be set up later; the guard at call time still applies."""
    cleaned = services.configuration_validate(data=configuration_payload())
    assert cleaned["endpoints"]["sendMessage"] == "https://provider.example/sendMessage"
