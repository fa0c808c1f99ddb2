"""The cache (Redis) going away must not stop the API: the throttle limits per process meanwhile.

A private redis-server is the cache of this test; it is stopped and started again while
a provider keeps writing. PostgreSQL is the source of truth, so every write is accepted.
"""

import logging

import pytest
import redis
from rest_framework.throttling import SimpleRateThrottle

from communications.models import Channel
from communications.tests.factories import integration_create
from config.api.throttling import fallback

from .servers import PrivateRedis

LIMIT = 12


@pytest.fixture
def private_cache(tmp_path, settings, monkeypatch):
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    settings.THROTTLE_FALLBACK_SECONDS = 0  # probe Redis on every request, so its return is seen at once
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": f"{LIMIT}/min", "anon": f"{LIMIT}/min"})
    fallback.reset()
    yield server
    if server.process.poll() is None:
        server.stop()
    fallback.reset()


def _throttle_keys(server) -> list[bytes]:
    return redis.Redis.from_url(server.url).keys("*throttle_principal*")


def test_writes_are_accepted_while_the_cache_is_down_and_limited_per_process(db, private_cache, caplog):
    provider = integration_create()
    other = integration_create()

    def connect(client, n):
        return client.post("/api/v1/channels", {"id": f"ch-{n}", "code": "telegram", "name": f"Канал {n}"},
                           format="json")

    # given: the shared cache counts the provider's requests
    assert [connect(provider.client, n).status_code for n in range(3)] == [201] * 3
    assert len(_throttle_keys(private_cache)) == 1
    # when: Redis stops
    private_cache.stop()
    with caplog.at_level(logging.WARNING, logger="config.api.throttling"):
        codes = [connect(provider.client, n).status_code for n in range(3, 3 + LIMIT + 2)]
    # then: every write within the per-process limit is accepted, never a 500, and the rest is throttled
    assert codes == [201] * LIMIT + [429, 429]
    assert Channel.objects.filter(external_id__startswith="ch-").count() == 3 + LIMIT
    assert fallback.fallbacks == LIMIT + 2
    assert any("throttle cache unavailable" in r.getMessage() for r in caplog.records)
    # and anonymous callers (the token endpoint) get their normal answer, not a 500
    assert provider.client.__class__().post("/api/auth/token/", {"username": "x", "password": "y"},
                                            format="json").status_code == 401
    # when: Redis is back, the shared cache is used again, and the end of the outage is logged with the count
    private_cache.start()
    with caplog.at_level(logging.WARNING, logger="config.api.throttling"):
        assert connect(other.client, 100).status_code == 201
    assert len(_throttle_keys(private_cache)) == 1
    assert f"requests limited per process so far: {LIMIT + 3}" in caplog.text


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
@pytest.mark.integration
def test_gunicorn_accepts_every_write_while_redis_is_down(transactional_db, tmp_path):
    """The production stack (gunicorn, DEBUG=0): Redis as cache and broker, as in docker-compose.yml."""
    import requests

    from .servers import run_gunicorn

    server = PrivateRedis(tmp_path)
    server.start()
    provider = integration_create()
    headers = {"Authorization": f"Bearer {provider.value}"}
    try:
        with run_gunicorn(tmp_path, REDIS_URL=server.url, CELERY_BROKER_URL=server.url, GUNICORN_WORKERS="2",
                          THROTTLE_RATE_PRINCIPAL="1000/min") as web:
            def connect(n):
                return requests.post(f"http://127.0.0.1:{web.port}/api/v1/channels", headers=headers, timeout=30,
                                     json={"id": f"ch-{n}", "code": "telegram", "name": f"Канал {n}"}).status_code

            before = [connect(n) for n in range(5)]
            server.stop()
            during = [connect(n) for n in range(5, 25)]
            server.start()
            after = [connect(n) for n in range(25, 30)]
    finally:
        if server.process.poll() is None:
            server.stop()
    assert (before, during, after) == ([201] * 5, [201] * 20, [201] * 5)
    assert Channel.objects.filter(external_id__startswith="ch-").count() == 30
