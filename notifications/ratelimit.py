"""Fixed-window rate limits shared by every web process and Celery worker.

Counters live in the Django cache, which is Redis in every deployment with more
than one process (`REDIS_URL`). A window is one second: `INCR` on
`notifications:rl:<scope>:<second>`; over the limit means "wait for the next window".
On Redis all the scopes of one send are taken in one round trip (one Lua script on one client per
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
    take = _take_script(settings.CACHES["default"])
    if take is None:  # one process (LocMemCache): the cache API
        counts = []
        for key in keys:
            cache.add(key, 0, timeout=timeout)
            try:
                counts.append(cache.incr(key))
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=timeout)
                counts.append(1)
        return counts
    # the cache's own keys, so cache.clear() drops them too
    return take(keys=[cache.make_key(key) for key in keys], args=[timeout])


# Each key: created at 0 with its expiry if missing, then incremented; the counts back in one round trip.
_TAKE = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, 0, 'EX', ARGV[1], 'NX')
  counts[i] = redis.call('INCR', key)
end
return counts
"""


def _take_script(cache_settings: dict):
    """The script on one redis-py client per process (None without a Redis cache)."""
    if cache_settings["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    return _script(cache_settings["LOCATION"])


@functools.cache
def _script(location: str):
    return redis.Redis.from_url(location, socket_connect_timeout=1, socket_timeout=1).register_script(_TAKE)
