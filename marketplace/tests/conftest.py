import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from marketplace import services
from marketplace.models import Application, AppVersion, ProviderCompany

API = "/internal/v1/marketplace"
SECRET_KEY = "super-secret-provider-key-123"
ENDPOINTS = ("sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead", "disconnect",
             "getChannels")


def configuration(version="1.0.0", app_version="1.0.0", code="acme", **overrides) -> dict:
    data = {
        "appCode": code, "appVersion": app_version, "configurationVersion": version, "providerLabel": "Acme Chat",
        "endpoints": {name: f"https://provider.example/{name}" for name in ENDPOINTS},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": SECRET_KEY},
    }
    data.update(overrides)
    return data


def developer_client(username: str, company: str) -> APIClient:
    """A JWT-authenticated member of `company`."""
    user = get_user_model().objects.create_user(username, password="pass-12345-word")
    ProviderCompany.objects.get_or_create(name=company)[0].members.add(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    client.user = user
    return client


@pytest.fixture
def developer(db):
    return developer_client("dev", "Acme LLC")


@pytest.fixture
def other_developer(db):
    return developer_client("rival", "Rival LLC")


@pytest.fixture
def app(developer) -> Application:
    company = developer.user.provider_companies.get()
    return services.application_create(company=company, code="acme", name="Acme Chat", actor=developer.user)


@pytest.fixture
def version(app) -> AppVersion:
    """Version 1.0.0 with the communications scope enabled (so the provider is registered)."""
    return services.app_version_create(application=app, version="1.0.0", scopes=["communications"])


@pytest.fixture
def configured_version(developer, version) -> AppVersion:
    response = developer.post(f"{API}/provider-configurations", configuration(), format="json")
    assert response.status_code == 201, response.json()
    return version


def record_passed_test_run(version: AppVersion):
    """A finished, passed test-stand run of the version's active configuration (no HTTP: a factory)."""
    import uuid

    from communications.models import ConfigurationBinding, ConformanceRun

    binding = ConfigurationBinding.objects.get(provider__code=version.application.code, app_version=version.version,
                                               is_active=True)
    return ConformanceRun.objects.create(provider=binding.provider, configuration=binding.configuration,
                                         app_version=version.version, sandbox_tenant_id=uuid.uuid4(),
                                         origin="moderator", status=ConformanceRun.Status.PASSED)


@pytest.fixture
def publishable(configured_version, developer) -> AppVersion:
    """All four publishing conditions hold."""
    services.app_version_approve(version=configured_version, actor=developer.user)
    services.app_version_mark_tested(version=configured_version, actor=developer.user, side="provider")
    record_passed_test_run(configured_version)
    services.app_version_mark_tested(version=configured_version, actor=developer.user, side="sbercrm")
    return configured_version


@pytest.fixture
def published(publishable, developer) -> AppVersion:
    return services.app_version_publish(version=publishable, actor=developer.user)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fake(settings):
    """A loopback provider; the engine may call loopback and retries without jitter."""
    from config.testing.fake_provider import FakeProvider

    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.DELIVERY_RETRY_JITTER = 0
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run an action so that its after-commit dispatch really runs (eager Celery: the engine sends at once)."""
    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()
    return run
