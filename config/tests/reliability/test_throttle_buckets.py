"""The throttles' counting (config/api/throttling.py): buckets of a sliding window, the same in Redis (the Lua
script) and in process memory (the fallback), bounded whatever the rate."""

import random
import uuid

import pytest
import redis
from django.conf import settings

from config.api.throttling import BUCKETS, _redis_take, take

pytestmark = pytest.mark.integration  # the real Redis of the cache


def test_no_period_lets_more_than_the_limit_through_and_the_oldest_bucket_frees_a_slot():
    counts: dict[int, int] = {}
    # given: a limit of 3, used up in bucket 100
    assert [take(counts, 100, 3) for _ in range(3)] == [-1, -1, -1]
    # then: refused, and the answer names bucket 100 as the one whose expiry frees a slot
    assert take(counts, 100, 3) == 100
    # and refused while bucket 100 is within the window (it and the BUCKETS before the current one)
    assert take(counts, 100 + BUCKETS, 3) == 100
    # when: it leaves the window, the limit is available again
    assert [take(counts, 101 + BUCKETS, 3) for _ in range(4)] == [-1, -1, -1, 101 + BUCKETS]


def test_a_refusal_names_the_bucket_that_brings_the_count_under_the_limit():
    counts = {10: 1, 20: 1, 30: 1, 35: 2}
    assert take(counts, 40, 3) == 30  # 10, 20 and 30 must go before one more fits
    assert counts == {10: 1, 20: 1, 30: 1, 35: 2}  # a refusal counts nothing


def _redis():
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def test_the_redis_script_answers_as_the_process_memory_does():
    script, key, counts = _redis_take(), f"test-throttle-{uuid.uuid4()}", {}
    rng, current = random.Random(19), 1_000_000
    try:
        for _ in range(600):
            current += rng.choice((0, 0, 0, 1, 2, 7, BUCKETS))
            limit = rng.choice((1, 3, 10))
            shared = int(script(keys=[key], args=[current, BUCKETS, limit, 120_000]))
            assert shared == take(counts, current, limit), current
        assert {int(b): int(c) for b, c in _redis().hgetall(key).items()} == counts
    finally:
        _redis().delete(key)


def test_a_caller_is_one_small_hash_whatever_the_rate():
    script, key = _redis_take(), f"test-throttle-{uuid.uuid4()}"
    try:
        for current in range(1_000, 1_000 + 5 * BUCKETS):
            for _ in range(3):
                assert int(script(keys=[key], args=[current, BUCKETS, 10**9, 120_000])) == -1
        assert _redis().hlen(key) == BUCKETS + 1
        assert 0 < _redis().pttl(key) <= 120_000
    finally:
        _redis().delete(key)
