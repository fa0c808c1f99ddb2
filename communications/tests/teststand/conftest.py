import pytest

from communications.tests.factories import upload_configuration


@pytest.fixture
def stand(settings):
    """Loopback allowed (the fakes listen on 127.0.0.1) and short timeouts: the whole-answer deadline is
    connect + read = 4 s (a loaded CI machine must not turn a conformant answer into a timeout)."""
    settings.PROVIDER_ALLOW_LOOPBACK, settings.TESTSTAND_RUN_BUDGET = True, 30
    settings.PROVIDER_CONNECT_TIMEOUT = settings.PROVIDER_READ_TIMEOUT = 2
    return settings


@pytest.fixture
def conformant(fake_provider):
    """The provider under test, the root `fake_provider`: as `conformant` it keeps its default behaviour,
    which conforms; as `broken` the test scripts it to break one rule."""
    return fake_provider


broken = conformant  # the same fixture under the name that says what the test does with it


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


@pytest.fixture
def start(django_capture_on_commit_callbacks):
    """Start a moderator's run of an app version through the marketplace; returns its finished report."""
    from marketplace import selectors, services

    def run(version, actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            started = services.app_version_test_run_start(version=version, actor=actor, origin="moderator")
        return selectors.app_version_test_run(version=version, run_id=started["id"])

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


