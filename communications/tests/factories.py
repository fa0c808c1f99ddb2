"""Test data of the communications app: factory_boy factories and the builders tests share.

Builders that need a service (a signing secret, an integration token) call it on top of the factories,
so what a test gets is what production would have created.
"""

import io
import uuid
from dataclasses import dataclass

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory
from PIL import ExifTags, Image

from communications.clients import webhook_secret_generate
from communications.endpoints import endpoint_names
from communications.models import ConfigurationBinding, Provider, ProviderConfiguration, TenantConfiguration

PROVIDER_API_KEY = "api-key-of-the-provider-1234"
STAND_API_KEY = "stand-api-key-of-provider-9876"  # the test stand's provider configurations
SECRET_KEY = "super-secret-provider-key-123"  # the key of uploaded configuration payloads
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class ProviderFactory(DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.LazyFunction(lambda: f"prov-{uuid.uuid4().hex[:8]}")
    label = factory.LazyAttribute(lambda o: f"Провайдер {o.code}")

    @factory.post_generation
    def signing_secret(provider, create, extracted, **kwargs):
        # As `provider_register`: a provider signs its calls from registration on.
        if create and not provider.signing_secrets.exists():
            provider.signing_secrets.create(secret=extracted or webhook_secret_generate())


class ProviderConfigurationFactory(DjangoModelFactory):
    class Meta:
        model = ProviderConfiguration

    provider = factory.SubFactory(ProviderFactory)
    app_code = factory.SelfAttribute("provider.code")
    app_version = "1.0.0"
    configuration_version = "1.0.0"
    provider_label = factory.SelfAttribute("provider.label")
    endpoints = factory.LazyFunction(dict)
    auth_header = "X-API-Key"
    auth_key = PROVIDER_API_KEY


class ConfigurationBindingFactory(DjangoModelFactory):
    """The active binding of a configuration to an app version (an earlier active one is switched off)."""

    class Meta:
        model = ConfigurationBinding

    configuration = factory.SubFactory(ProviderConfigurationFactory)
    provider = factory.SelfAttribute("configuration.provider")
    app_version = factory.SelfAttribute("configuration.app_version")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        model_class.objects.filter(provider=kwargs["provider"], app_version=kwargs["app_version"]).update(
            is_active=False)
        return super()._create(model_class, *args, **kwargs)


class TenantConfigurationFactory(DjangoModelFactory):
    """A tenant's installation; the provider's first configuration is reused, or one is created."""

    class Meta:
        model = TenantConfiguration

    tenant_id = factory.LazyFunction(uuid.uuid4)
    provider = factory.SubFactory(ProviderFactory)
    configuration = factory.LazyAttribute(
        lambda o: o.provider.configurations.first() or ProviderConfigurationFactory(provider=o.provider))
    app_version = "1.0.0"


class DeliveryFactory(DjangoModelFactory):
    """A provider call of a tenant's configuration, due now, never attempted (no HTTP). `webhook=True`: a
    callback to a provider's webhook URL instead (no tenant configuration)."""

    class Meta:
        model = "communications.Delivery"

    class Params:
        webhook = factory.Trait(kind="webhook", tenant_configuration=None, tenant_id=None, provider=None,
                                configuration=None, endpoint="message.created", url="https://provider.example/hook")

    tenant_configuration = factory.SubFactory(TenantConfigurationFactory)
    tenant_id = factory.SelfAttribute("tenant_configuration.tenant_id")
    provider = factory.SelfAttribute("tenant_configuration.provider")
    configuration = factory.SelfAttribute("tenant_configuration.configuration")
    endpoint = "sendMessage"
    url = factory.LazyAttribute(
        lambda o: o.configuration.endpoint_url(o.endpoint) or f"https://provider.example/{o.endpoint}")
    payload = factory.LazyFunction(lambda: {"text": "Ответ"})
    next_attempt_at = factory.LazyFunction(timezone.now)


class DeliveryAttemptFactory(DjangoModelFactory):
    """One recorded attempt of a delivery (the first, failed with a 503, unless told)."""

    class Meta:
        model = "communications.DeliveryAttempt"

    delivery = factory.SubFactory(DeliveryFactory)
    number = 1
    started_at = factory.LazyFunction(timezone.now)
    outcome = "failed"
    status_code = 503
    error = "HTTP 503: unavailable"


# --- builders shared across the communications, config and bench tests ----------------------------------

def make_tenant_configuration(fake, *, code: str | None = None, endpoints: dict | None = None):
    """A tenant installed with a new provider whose configuration points at the fake (or at `endpoints`)."""
    configuration = ProviderConfigurationFactory(
        **({"provider__code": code} if code else {}),
        endpoints=endpoints if endpoints is not None else fake.endpoints())
    return TenantConfigurationFactory(provider=configuration.provider, configuration=configuration)


def provider_setup(fake, *, endpoints=None):
    """A registered provider (with its signing secret) whose configuration points at the fake."""
    from communications.services.providers import provider_register
    from config.testing.fake_provider import ENDPOINTS

    code = f"prov-{uuid.uuid4().hex[:8]}"
    provider, _ = provider_register(code=code, label=f"Провайдер {code}")
    ProviderConfigurationFactory(provider=provider, endpoints=fake.endpoints(endpoints or ENDPOINTS))
    return provider


def tenant_install(provider, tenant_id=None):
    """Install the app for a tenant and activate its integration (issues the token)."""
    from communications.services.tokens import integration_token_issue

    tenant = TenantConfigurationFactory(provider=provider, configuration=provider.configurations.get(),
                                        **({"tenant_id": tenant_id} if tenant_id else {}))
    issued = integration_token_issue(tenant_id=tenant.tenant_id, provider=provider)
    return tenant.tenant_id, issued.token


def chat_make(tenant_id, provider, chat_id="chat-1", channel_id=None):
    from communications.services.conversations import chat_create

    chat, _ = chat_create(tenant_id=tenant_id, provider=provider,
                          chat={"external_id": chat_id, "channel_id": channel_id, "title": f"Чат {chat_id}",
                                "participants": [{"external_id": "client-1", "name": "Клиент"}]})
    return chat


def signing_secret(provider) -> str:
    return provider.signing_secrets.order_by("-created_at").values_list("secret", flat=True).first()


@dataclass
class Integration:
    client: object  # rest_framework.test.APIClient carrying the token
    tenant_id: uuid.UUID
    provider: Provider
    token: object  # communications.models.IntegrationToken
    value: str


def integration_create(*, provider: Provider | None = None, tenant_id: uuid.UUID | None = None) -> Integration:
    """A tenant's active integration with a provider (a bare configuration) and an API client with its token."""
    from rest_framework.test import APIClient

    from communications.services.tokens import integration_token_issue

    provider = provider or ProviderFactory()
    if not provider.configurations.exists():
        ProviderConfigurationFactory(provider=provider, auth_header="X-API-Key", auth_key="test-key-123456789")
    tenant = TenantConfigurationFactory(provider=provider, **({"tenant_id": tenant_id} if tenant_id else {}))
    issued = integration_token_issue(tenant_id=tenant.tenant_id, provider=provider)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.value}")
    return Integration(client=client, tenant_id=tenant.tenant_id, provider=provider, token=issued.token,
                       value=issued.value)


def make_configuration(fake=None, *, code: str = "acme", app_version: str = "1.0.0", endpoints: dict | None = None,
                       configuration_version: str = "1.0.0"):
    """A provider with a configuration bound (active) to `app_version`, as the test stand reads it."""
    provider = ProviderFactory(code=code)
    configuration = ProviderConfigurationFactory(
        provider=provider, app_version=app_version, configuration_version=configuration_version,
        endpoints=endpoints if endpoints is not None else fake.endpoints(), auth_header="X-Api-Key",
        auth_key=STAND_API_KEY)
    ConfigurationBindingFactory(configuration=configuration)
    return configuration


def verdicts(run) -> list[tuple[str, bool, str]]:
    return [(check.endpoint, check.is_repeat, check.verdict) for check in run.checks.order_by("position")]


def upload_configuration(developer, fake, *, version="1.0.0", app_version="1.0.0", method="post"):
    """A developer uploads a configuration pointing at the fake through the marketplace API."""
    from marketplace.tests.factories import API, configuration

    data = configuration(version, app_version=app_version, endpoints=fake.endpoints())
    response = getattr(developer, method)(f"{API}/provider-configurations", data, format="json")
    assert response.status_code in (200, 201), response.json()
    return response


# --- request bodies --------------------------------------------------------------------------------------

def configuration_payload(version: str = "1.0.0", **overrides) -> dict:
    """A valid camelCase configuration with every endpoint on a fake host."""
    data = {
        "configurationVersion": version,
        "providerLabel": "Acme Chat",
        "endpoints": {name: f"https://provider.example/{name}" for name in endpoint_names()},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": SECRET_KEY},
    }
    data.update(overrides)
    return data


def upload(version: str, *, app_version: str = "1.0.0", mode: str = "update", code: str = "acme"):
    """The internal upload service with `configuration_payload(version)`."""
    from communications.services import providers as services

    return services.provider_configuration_upload(app_code=code, app_version=app_version,
                                                  data=configuration_payload(version), mode=mode)


def chat_payload(chat_id="chat-1", participants=2, **extra):
    return {"id": chat_id, "title": "Чат", "type": "private",
            "participants": [{"id": f"user-{i}", "name": f"Участник {i}"} for i in range(participants)], **extra}


def message_payload(message_id="msg-1", chat_id="chat-1", participants=2, text="Привет", **extra):
    return {"id": message_id, "chat": chat_payload(chat_id, participants), "text": text, "senderId": "user-0",
            **extra}


# --- attachments -----------------------------------------------------------------------------------------

def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (16, 16), "red")
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    return ExifTags.IFD.GPSInfo in Image.open(io.BytesIO(data)).getexif()


class ConformanceRunFactory(DjangoModelFactory):
    """A finished, passed test-stand run of a configuration (no HTTP)."""

    class Meta:
        model = "communications.ConformanceRun"

    configuration = factory.SubFactory(ProviderConfigurationFactory)
    provider = factory.SelfAttribute("configuration.provider")
    app_version = factory.SelfAttribute("configuration.app_version")
    sandbox_tenant_id = factory.LazyFunction(uuid.uuid4)
    origin = "moderator"
    status = "passed"


def all_final(ids) -> bool:
    """Every one of the deliveries reached a final status."""
    from communications.models import Delivery

    return not Delivery.objects.filter(pk__in=ids).exclude(status__in=Delivery.FINAL_STATUSES).exists()


def operator_scope(provider, tenant_id) -> dict:
    """The tenant and provider an operator API call acts for."""
    return {"tenantId": str(tenant_id), "providerCode": provider.code}


def shape(value):
    """Keys and nesting without the values: what must match between documentation and code."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "scalar"


def history_messages(count, chats=30):
    """`count` messages of history over `chats` chats, as a provider's getMessageHistory returns them."""
    return [{"id": f"h-{n}", "chat": {"id": f"hc-{n % chats}", "channelId": "ch-tg", "title": f"Чат {n % chats}",
                                      "participants": [{"id": f"u-{n % chats}", "name": "Клиент"}]},
             "text": f"сообщение {n}", "direction": "incoming" if n % 2 else "outgoing", "senderId": f"u-{n % chats}"}
            for n in range(count)]


def assert_refused(response, field: str) -> None:
    """A 400 whose error envelope names `field`."""
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


class _Drop:
    """A key left out of a request body (a stable repr: pytest-xdist workers must collect the same test ids)."""

    def __repr__(self):
        return "<dropped>"


DROP = _Drop()


def with_changes(body: dict, changes: dict) -> dict:
    """`body` with `changes` applied in place: a path `a__0__b` reaches into nested objects and lists; DROP removes."""
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        leaf = int(leaf) if isinstance(target, list) else leaf
        if value is DROP:
            target.pop(leaf)
        else:
            target[leaf] = value
    return body


def plain(value):
    """ReturnDict/ErrorDetail/OrderedDict → plain values, to compare two validators' answers exactly."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return str(value) if type(value).__name__ == "ErrorDetail" else value
