"""Project-wide pytest fixtures.

Unit tests run Celery eagerly. Tests marked `integration` use a real Celery
worker consuming from Redis, and PostgreSQL; they need SERVICES_AVAILABLE=1,
which `scripts/test.sh` sets after probing the services.
"""

import os

import pytest

SERVICES_AVAILABLE = os.environ.get("SERVICES_AVAILABLE") == "1"
_skipped_for_services: list[str] = []


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "integration" in item.keywords and not SERVICES_AVAILABLE:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL/Redis unavailable (see make test notice)"))
            _skipped_for_services.append(item.nodeid)
        elif "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL"))
            _skipped_for_services.append(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_services:
        terminalreporter.section("NOT RUN: services unavailable", yellow=True, bold=True)
        terminalreporter.write_line(
            f"{len(_skipped_for_services)} integration/PostgreSQL tests did not run. "
            "Start PostgreSQL and Redis (or set REQUIRE_SERVICES=1 to make this an error)."
        )


@pytest.fixture(autouse=True)
def _celery_mode(request):
    """Eager Celery for unit tests, the real broker for integration tests."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = "integration" not in request.keywords
    if "integration" in request.keywords:
        # The in-process worker sets Celery's process-wide "joins would block" flag again whenever its
        # consumer rebuilds the pool (a broker reconnect); the test thread is not a task, so clear it.
        from celery._state import _set_task_join_will_block

        _set_task_join_will_block(False)
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path_factory):
    """Stored files (message attachments) go to a temporary directory, never to the worktree's var/media."""
    default = settings.STORAGES["default"]
    if default["BACKEND"] == "django.core.files.storage.FileSystemStorage":
        location = str(tmp_path_factory.mktemp("media"))
        settings.MEDIA_ROOT = location
        settings.STORAGES = {**settings.STORAGES,
                             "default": {**default, "OPTIONS": {**default.get("OPTIONS", {}), "location": location}}}


@pytest.fixture(autouse=True)
def _isolated_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (threads pool) consuming from Redis inside the test process."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    # Drop anything a previous run left in the queue.
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(app.conf.task_default_queue)
    with django_db_blocker.unblock():
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False,
                          loglevel="WARNING", shutdown_timeout=15) as worker:
            yield worker


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def _service_client(username: str, role: str):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from config.management.commands.create_service_account import service_account_ensure

    user = service_account_ensure(username=username, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    client.user = user
    return client


@pytest.fixture
def marketplace_client(db):
    """APIClient authenticated as the marketplace service account."""
    return _service_client("svc-marketplace", "marketplace")


@pytest.fixture
def crm_client(db):
    """APIClient authenticated as the CRM service account."""
    return _service_client("svc-crm", "crm")


@pytest.fixture
def notifications_service_client(db):
    """APIClient authenticated as an internal service allowed to send notifications."""
    return _service_client("svc-notifications", "notifications")
