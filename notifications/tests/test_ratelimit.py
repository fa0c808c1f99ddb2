import time
import uuid

import pytest
import redis

from notifications.ratelimit import acquire, acquire_all


def test_window_grants_up_to_the_limit_then_asks_to_wait(db):
    assert [acquire("t-scope", 2) for _ in range(2)] == [0.0, 0.0]
    wait = acquire("t-scope", 2)
    assert 0 < wait <= 1.0
    assert acquire("other-scope", 2) == 0.0


def test_acquire_all_reports_the_longest_wait(db):
    acquire("chat:1", 1)
    assert acquire_all([("global", 30), ("chat:1", 1)]) > 0


def test_messages_to_one_telegram_chat_are_spaced_one_per_second(fakes, make_recipient, send):
    # given the default limit of 1 message per chat per second
    recipient = make_recipient("user", telegram=True)
    payload = {"user_id": str(recipient.pk), "service": "telegram", "subject": "s", "type": "notification",
               "message": "m"}
    # when two notifications go to the same chat back to back
    assert send(payload).status_code == 200
    assert send(payload).status_code == 200
    # then they land in different one-second windows
    first, second = fakes["telegram"].calls("sendMessage")
    assert int(first.at) != int(second.at)


def test_global_telegram_limit_is_shared_through_the_cache(fakes, make_recipient, send, settings):
    # given another worker already used this second's global budget (the counter lives in the cache)
    settings.TELEGRAM_RATE_LIMIT_GLOBAL = 1
    recipient = make_recipient("user", telegram=True)
    slot = int(time.time())
    acquire("telegram", 1)
    # when
    response = send({"user_id": str(recipient.pk), "service": "telegram", "subject": "s", "type": "notification",
                     "message": "m"})
    # then the send waited for a later window instead of exceeding the limit
    assert response.status_code == 200
    assert int(fakes["telegram"].calls("sendMessage")[0].at) > slot


def test_unreachable_redis_grants_the_slot_instead_of_failing_the_send(settings):
    # a port nothing listens on: the shared counters are down (a Redis outage)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    assert acquire_all([("global", 1), ("chat:9", 1)]) == 0.0
    assert acquire_all([("global", 1), ("chat:9", 1)]) == 0.0  # no counting without the store


@pytest.mark.integration  # the real Redis of the cache
def test_on_redis_each_counter_counts_across_calls_and_expires_after_its_window(db):
    from django.conf import settings
    from django.core.cache import cache

    # given: two scopes taken together, one of them again
    scope = f"t-{uuid.uuid4().hex[:8]}"
    acquire_all([(scope, 5), (f"{scope}-other", 5)])
    acquire(scope, 5)
    # then: the counters live in Redis under the cache's keys, counted across calls, each with an expiry
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    keys = {k.decode(): int(client.get(k)) for k in client.keys(cache.make_key(f"notifications:rl:{scope}*"))}
    assert sorted(keys.values()) == [1, 2] or sorted(keys.values()) == [1, 1, 1]  # (a second may have turned)
    assert all(0 < client.ttl(key) <= 3 for key in keys)
