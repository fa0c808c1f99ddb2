import pytest

from config.testing.fake_provider import FakeProvider

API_KEY = "stand-api-key-of-provider-9876"


@pytest.fixture
def stand(settings):
    """Loopback allowed (the fakes listen on 127.0.0.1) and short timeouts."""
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_CONNECT_TIMEOUT = 2  # whole-answer deadline = connect + read = 4 s
    settings.PROVIDER_READ_TIMEOUT = 2  # a loaded CI machine must not turn a conformant answer into a timeout
    settings.TESTSTAND_RUN_BUDGET = 30
    return settings


@pytest.fixture
def conformant():
    """The fully conformant provider: the fake's default behaviour."""
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def broken():
    """The provider that breaks one rule per test (scripted by the test)."""
    with FakeProvider() as fake:
        yield fake


def make_configuration(fake: FakeProvider | None = None, *, code: str = "acme", app_version: str = "1.0.0",
                       endpoints: dict | None = None, configuration_version: str = "1.0.0"):
    """A provider with a configuration bound (active) to `app_version`."""
    from communications.models import ConfigurationBinding, Provider, ProviderConfiguration

    provider, _ = Provider.objects.get_or_create(code=code, defaults={"label": f"Провайдер {code}"})
    configuration = ProviderConfiguration.objects.create(
        provider=provider, app_code=code, app_version=app_version, configuration_version=configuration_version,
        provider_label=provider.label, endpoints=endpoints if endpoints is not None else fake.endpoints(),
        auth_header="X-Api-Key", auth_key=API_KEY,
    )
    ConfigurationBinding.objects.filter(provider=provider, app_version=app_version).update(is_active=False)
    ConfigurationBinding.objects.create(provider=provider, app_version=app_version, configuration=configuration)
    return configuration


@pytest.fixture
def run_now(django_capture_on_commit_callbacks):
    """Start a run and let the (eager) Celery task execute it on commit; returns the finished run."""
    from communications.services import teststand as services

    def run(*, app_code="acme", app_version="1.0.0", origin="moderator", actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            started = services.conformance_run_start(app_code=app_code, app_version=app_version, origin=origin,
                                                     actor=actor)
        started.refresh_from_db()
        return started

    return run


def verdicts(run) -> list[tuple[str, bool, str]]:
    return [(check.endpoint, check.is_repeat, check.verdict) for check in run.checks.order_by("position")]


# --- marketplace side: a developer's app version configured against a fake provider ----------

@pytest.fixture
def developer(db):
    from marketplace.tests.conftest import developer_client

    return developer_client("dev", "Acme LLC")


@pytest.fixture
def other_developer(db):
    from marketplace.tests.conftest import developer_client

    return developer_client("rival", "Rival LLC")


def upload_configuration(developer, fake, *, version="1.0.0", app_version="1.0.0", method="post"):
    from marketplace.tests.conftest import API, configuration

    data = configuration(version, app_version=app_version, endpoints=fake.endpoints())
    response = getattr(developer, method)(f"{API}/provider-configurations", data, format="json")
    assert response.status_code in (200, 201), response.json()
    return response


@pytest.fixture
def app_version(developer, conformant, stand):
    """acme 1.0.0 with «Коммуникации» and a configuration pointing at the conformant fake."""
    from marketplace import services
    from marketplace.models import Scope

    # The row comes from a data migration; a transactional test elsewhere may have flushed it.
    Scope.objects.get_or_create(code=Scope.COMMUNICATIONS, defaults={"label": "Коммуникации"})
    company = developer.user.provider_companies.get()
    application = services.application_create(company=company, code="acme", name="Acme Chat", actor=developer.user)
    version = services.app_version_create(application=application, version="1.0.0", scopes=["communications"])
    upload_configuration(developer, conformant)
    return version


@pytest.fixture
def moderator(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("moderator", "m@sbercrm.local", "pass-12345-word")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
