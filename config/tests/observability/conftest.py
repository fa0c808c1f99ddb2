import time

import pytest


@pytest.fixture(autouse=True)
def _settle_background_work(request):
    """After an integration test, let the real worker finish what the test started (activation calls,
    initial sync) before the database is truncated: a TRUNCATE racing a running task deadlocks."""
    if "integration" not in request.keywords or "transactional_db" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so it is truncated after this waits
    yield
    from communications.models import Delivery, InitialSync

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        busy = (Delivery.objects.filter(status=Delivery.Status.IN_PROGRESS).exists()
                or Delivery.objects.filter(status=Delivery.Status.PENDING, attempts=0).exists()
                or InitialSync.objects.filter(status__in=InitialSync.ACTIVE_STATUSES).exists())
        if not busy:
            return
        time.sleep(0.1)


@pytest.fixture
def private_redis_url(tmp_path):
    """A redis-server of our own (also without the suite's services): (process, "redis://127.0.0.1:PORT")."""
    from config.tests.observability.helpers import private_redis

    with private_redis(tmp_path) as (process, url):
        yield process, url.rsplit("/", 1)[0]


@pytest.fixture
def broker(settings, private_redis_url):
    """Non-eager Celery on our own broker; yields the redis-server process (a test may stop it)."""
    process, base = private_redis_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"{base}/0"
    yield process


@pytest.fixture
def shared_cache(settings, broker, private_redis_url):
    """A Redis cache, as in production: what workers record about beat reaches web."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"{private_redis_url[1]}/2"}}
    yield
