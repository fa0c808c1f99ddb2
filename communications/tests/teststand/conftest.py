import pytest

from communications.tests.factories import upload_configuration
from config.testing.fake_provider import FakeProvider


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


# --- marketplace side: a developer's app version configured against a fake provider ----------

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
