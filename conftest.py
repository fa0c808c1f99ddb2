"""Project-wide pytest fixtures.

Unit tests run Celery eagerly. Tests marked `integration` use a real Celery
worker consuming from Redis, and PostgreSQL; they need SERVICES_AVAILABLE=1,
which `scripts/test.sh` sets after probing the services.
"""

import os

import pytest

# The tests' provider URLs use reserved names (provider.example, ...) that never resolve, and the SSRF guard
# looks each one up. A resolver that drops a query makes glibc wait 5 s before asking again; one second is
# plenty for an answer that is NXDOMAIN anyway (this process and the servers and workers it starts).
os.environ.setdefault("RES_OPTIONS", "timeout:1 attempts:3")
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


def _transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test ends with a flush, which also empties what the data migrations wrote (the
    Communications scope, the moderators group). One process runs transactional tests last; a pytest-xdist
    worker runs them in file order, so the data is written again before a test that expects it."""
    yield
    if _transactional(item) and nextitem is not None and not _transactional(nextitem):
        from importlib import import_module

        from django.apps import apps
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            import_module("marketplace.migrations.0001_marketplace_and_communications_scope") \
                .add_communications_scope(apps, None)
            import_module("config.migrations.0001_moderators_group").create_group(apps, None)


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


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """MD5 instead of Django's default PBKDF2 (about 0.4 s of CPU a hash) for the users the tests create.
    Production keeps the default; processes the tests start (gunicorn, workers) keep it too."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


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


def _service_client_fixture(name: str, username: str, role: str, doc: str):
    def fixture(db):
        from config.tests.factories import service_client

        return service_client(username, role)

    fixture.__doc__ = doc
    return pytest.fixture(fixture, name=name)


marketplace_client = _service_client_fixture("marketplace_client", "svc-marketplace", "marketplace",
                                             "APIClient authenticated as the marketplace service account.")
crm_client = _service_client_fixture("crm_client", "svc-crm", "crm",
                                     "APIClient authenticated as the CRM service account.")
notifications_service_client = _service_client_fixture(
    "notifications_service_client", "svc-notifications", "notifications",
    "APIClient authenticated as an internal service allowed to send notifications.")


# --- a loopback provider and fast retries (communications, config and notifications tests) -------------

@pytest.fixture
def fake_provider():
    from config.testing.fake_provider import FakeProvider

    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fast_retries(settings):
    """Seconds instead of hours, no jitter, loopback allowed: the fake listens on 127.0.0.1."""
    settings.DELIVERY_RETRY_SCHEDULE = [0.2] * 9
    settings.DELIVERY_RETRY_JITTER = 0
    settings.DELIVERY_SWEEP_GRACE = 0
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_READ_TIMEOUT = 3
    return settings


@pytest.fixture
def fast(fast_retries):
    """`fast_retries`, and the initial sync retried in fractions of a second too."""
    fast_retries.INITIAL_SYNC_RETRY_DELAY = 0.2
    return fast_retries


# --- developers of provider companies (marketplace and test-stand tests) -------------------------------

def _developer_fixture(name: str, username: str, company: str):
    def fixture(db):
        from marketplace.tests.factories import developer_client

        return developer_client(username, company)

    fixture.__doc__ = f"A JWT-authenticated member of {company} (marketplace.tests.factories.developer_client)."
    return pytest.fixture(fixture, name=name)


developer = _developer_fixture("developer", "dev", "Acme LLC")
other_developer = _developer_fixture("other_developer", "rival", "Rival LLC")


# --- fake messengers, push and mail (bots, notifications and observability tests) ----------------------

@pytest.fixture(scope="session")
def _bot_fakes():
    """Telegram and VK fakes with short long-poll waits, for the bots."""
    from config.testing.fake_telegram import FakeTelegram
    from config.testing.fake_vk import FakeVK

    with FakeTelegram(max_poll_wait=0.5) as tg, FakeVK(max_poll_wait=0.5) as vk:
        yield tg, vk


@pytest.fixture
def tg(_bot_fakes, settings):
    """The fake Bot API, reset, with the settings pointing pyTelegramBotAPI at it."""
    from telebot import apihelper

    from bots.tests.builders import TG_SECRET

    server = _bot_fakes[0]
    server.reset()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST-token"
    settings.TELEGRAM_API_BASE_URL = server.url
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 5
    yield server
    apihelper.API_URL = None  # pyTelegramBotAPI keeps it in a module global


@pytest.fixture(scope="session")
def _fake_servers():
    import logging

    from config.testing.fake_onesignal import FakeOneSignal
    from config.testing.fake_telegram import FakeTelegram
    from config.testing.fake_vk import FakeVK
    from config.testing.smtp_sink import SmtpSink

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd chatter
    with FakeTelegram() as tg, FakeVK() as vk, FakeOneSignal() as onesignal, SmtpSink() as smtp:
        yield {"telegram": tg, "vk": vk, "onesignal": onesignal, "smtp": smtp}


@pytest.fixture
def smtp(_fake_servers, settings):
    """The SMTP sink, reset, with Django's mail settings pointing at it."""
    sink = _fake_servers["smtp"]
    sink.reset()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return sink


@pytest.fixture
def fakes(_fake_servers, smtp, settings):
    """All four fake remotes of the notification service, reset, with the settings pointing the real clients
    at them."""
    for server in _fake_servers.values():
        server.reset()
    tg, vk, onesignal = (_fake_servers[k] for k in ("telegram", "vk", "onesignal"))
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST-token"
    settings.TELEGRAM_API_BASE_URL = tg.url
    settings.VK_GROUP_TOKEN = "vk-test-token"
    settings.VK_API_BASE_URL = vk.url
    settings.ONESIGNAL_API_BASE_URL = onesignal.url
    settings.ONESIGNAL_APP_ID = "app-test"
    settings.ONESIGNAL_API_KEY = "os-test-key"
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 5
    settings.NOTIFICATIONS_SYNC_DEADLINE = 5
    return _fake_servers


@pytest.fixture
def make_recipient(db):
    """Recipient with optional email, Telegram/VK bindings and push devices (notifications.tests.factories)."""
    from notifications.tests.factories import recipient_make

    return recipient_make


@pytest.fixture
def send(notifications_service_client):
    """POST /notifications/send as the notifications service."""

    def post(payload=None, *, headers=None, path="/notifications/send", **fields):
        body = dict(payload or {}, **fields)
        if "user_id" in body:
            body["user_id"] = str(body["user_id"])
        return notifications_service_client.post(path, body, format="json", headers=headers or {})

    return post
