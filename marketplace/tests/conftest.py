"""Fixtures of the marketplace tests (the `developer` and `other_developer` clients are in the root
conftest.py; the builders in marketplace.tests.factories)."""

import pytest

from marketplace import services
from marketplace.models import Application, AppVersion
from marketplace.tests.factories import API, configuration, record_passed_test_run


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
