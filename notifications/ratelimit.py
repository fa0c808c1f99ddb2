"""Fixed-window rate limits shared by every web process and Celery worker.

Counters live in the Django cache, which is Redis in every deployment with more
than one process (`REDIS_URL`). A window is one second: `INCR` on
`notifications:rl:<scope>:<second>`; over the limit means "wait for the next window".
On Redis all the scopes of one send are taken in one round trip (a pipeline on one client per
process); the cache API would build a client and pay a round trip per command (issue 19).
"""

import functools
import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def acquire(scope: str, limit: int, *, window: float = 1.0) -> float:
    """Take one slot. Returns 0 when granted, else the seconds until the next window."""
    return acquire_all([(scope, limit)], window=window)


def acquire_all(limits: list[tuple[str, int]], *, window: float = 1.0) -> float:
    """Take a slot in each (scope, limit); 0 when all granted, else the longest wait."""
    if not limits:
        return 0.0
    now = time.time()
    slot = int(now // window)
    keys = [f"notifications:rl:{scope}:{slot}" for scope, _ in limits]
    try:
        counts = _incr(keys, timeout=int(window) + 2)
    except redis.RedisError as exc:  # the shared counters are down: send anyway, the channel's own 429 still holds
        logger.warning("notification rate limits unavailable (%s); sending without them", exc.__class__.__name__)
        return 0.0
    if all(count <= limit for count, (_, limit) in zip(counts, limits, strict=True)):
        return 0.0
    return max((slot + 1) * window - now, 0.01)


def _incr(keys: list[str], *, timeout: int) -> list[int]:
    client = _redis(settings.CACHES["default"])
    if client is None:  # one process (LocMemCache): the cache API
        counts = []
        for key in keys:
            cache.add(key, 0, timeout=timeout)
            try:
                counts.append(cache.incr(key))
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=timeout)
                counts.append(1)
        return counts
    with client.pipeline(transaction=False) as pipe:
        for key in map(cache.make_key, keys):  # the cache's own key, so cache.clear() drops it too
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
        return pipe.execute()[1::2]


def _redis(cache_settings: dict) -> redis.Redis | None:
    if cache_settings["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    return _client(cache_settings["LOCATION"])


@functools.cache
def _client(location: str) -> redis.Redis:
    return redis.Redis.from_url(location, socket_connect_timeout=1, socket_timeout=1)
