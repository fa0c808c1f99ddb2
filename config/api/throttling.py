"""Rate limits shared by every web worker through the cache (Redis).

A limit of N per period counts requests in buckets of period / BUCKETS seconds: a request is allowed while
the current bucket and the BUCKETS before it hold fewer than N. No period ever lets more than N through, and a
slot comes free at most one bucket (1 s of a minute, 1 min of an hour) later than with an exact log of
timestamps. On Redis a caller's buckets are one hash, read and updated by one Lua script: one round trip on
one client per process, whatever the rate.

Both throttles identify an anonymous caller by `config.api.networks.client_address` (the forwarded address
only from our own proxy), and keep limiting when Redis is down: the count falls back to this process's memory
(logged and counted), never a 500.
"""

import logging
import math
import os
import re
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)

BUCKETS = 60
REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"

# KEYS[1]: the caller's hash (bucket number → count); ARGV: current bucket, BUCKETS, limit, TTL in ms.
# Returns -1 when the request is allowed (and counted), else the bucket whose expiry frees a slot.
TAKE = """
local key, current, span, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fields = redis.call('HGETALL', key)
local total, kept, counts, stale = 0, {}, {}, {}
for i = 1, #fields, 2 do
  local bucket, count = tonumber(fields[i]), tonumber(fields[i + 1])
  if bucket < current - span then
    stale[#stale + 1] = fields[i]
  else
    total = total + count
    kept[#kept + 1] = bucket
    counts[bucket] = count
  end
end
if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
if total < limit then
  redis.call('HINCRBY', key, ARGV[1], 1)
  redis.call('PEXPIRE', key, ARGV[4])
  return -1
end
table.sort(kept)
local excess = total - limit + 1
for _, bucket in ipairs(kept) do
  excess = excess - counts[bucket]
  if excess <= 0 then return bucket end
end
return current
"""


def take(counts: dict[int, int], current: int, limit: int) -> int:
    """TAKE on a dict, for a cache that is not Redis (and the fallback): -1 if allowed (counted), else the
    bucket whose expiry frees a slot."""
    for bucket in [b for b in counts if b < current - BUCKETS]:
        del counts[bucket]
    total = sum(counts.values())
    if total < limit:
        counts[current] = counts.get(current, 0) + 1
        return -1
    excess = total - limit + 1
    for bucket in sorted(counts):
        excess -= counts[bucket]
        if excess <= 0:
            return bucket
    return current


_scripts: dict = {}  # (pid, location, options) → the TAKE script on one redis-py client of this process


def _redis_take():
    config = settings.CACHES["default"]
    ident = (os.getpid(), config["LOCATION"], repr(config.get("OPTIONS")))
    script = _scripts.get(ident)
    if script is None:
        # the pool the cache itself would build (same URL, timeouts, parser), but one client for the process
        servers = re.split("[;,]", config["LOCATION"]) if isinstance(config["LOCATION"], str) else config["LOCATION"]
        pool = RedisCacheClient(servers, **config.get("OPTIONS", {}))._get_connection_pool(write=True)
        script = _scripts[ident] = redis.Redis(connection_pool=pool).register_script(TAKE)
    return script


class _CacheFallback:
    """The cache used while Redis is away: this process's memory, with a count of fallbacks."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.local = LocMemCache("throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
        self.down_until = 0.0
        self.fallbacks = 0  # requests limited per process because the shared cache failed
        self.in_outage = False

    def active(self) -> bool:
        return time.monotonic() < self.down_until

    def record(self, exc: Exception | None) -> None:
        with self.lock:
            self.fallbacks += 1
            count = self.fallbacks
            if exc is not None:
                # skip Redis for a while: no connect attempt per request during an outage
                self.down_until = time.monotonic() + settings.THROTTLE_FALLBACK_SECONDS
                self.in_outage = True
        if exc is not None:
            logger.warning("throttle cache unavailable (%s), limiting per process; fallbacks so far: %d",
                           exc.__class__.__name__, count)


    def recovered(self) -> None:
        if self.in_outage:
            self.in_outage = False
            logger.warning("throttle cache is back; requests limited per process so far: %d", self.fallbacks)


fallback = _CacheFallback()


class ResilientThrottleMixin:
    """Counts in the shared cache; in this process's memory while the shared cache fails.

    The rates, scopes and keys are DRF's (`SimpleRateThrottle`); the counting is the buckets above."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        width = self.duration / BUCKETS
        current = int(self.now // width)
        if not fallback.active():
            try:
                freed = self._take_shared(current, width)
            except (RedisError, OSError) as exc:  # connection refused, timeouts, a server going away
                fallback.record(exc)
            else:
                fallback.recovered()
                return self._answer(freed, width)
        else:
            fallback.record(None)
        with fallback.lock:
            freed = self._take_cached(fallback.local, current, width)
        return self._answer(freed, width)

    def _take_shared(self, current: int, width: float) -> int:
        if settings.CACHES["default"]["BACKEND"] != REDIS_BACKEND:
            return self._take_cached(caches["default"], current, width)
        ttl = math.ceil((BUCKETS + 1) * width * 1000)
        return int(_redis_take()(keys=[caches["default"].make_key(self._bucket_key())],
                                 args=[current, BUCKETS, self.num_requests, ttl]))

    def _take_cached(self, cache, current: int, width: float) -> int:
        key = self._bucket_key()
        counts = cache.get(key) or {}
        freed = take(counts, current, self.num_requests)
        if freed < 0:
            cache.set(key, counts, math.ceil((BUCKETS + 1) * width))
        return freed

    def _bucket_key(self) -> str:
        return f"{self.key}:b"  # not DRF's key: that one held a pickled list of timestamps

    def _answer(self, freed: int, width: float) -> bool:
        # the bucket leaves the window at (freed + BUCKETS + 1) * width; said as at most one period
        self._wait = None if freed < 0 else min(max((freed + BUCKETS + 1) * width - self.now, 0.0), self.duration)
        return freed < 0

    def wait(self):
        return self._wait

    def get_ident(self, request):
        from config.api.networks import client_address  # DRF loads throttles while config.api.errors imports

        return client_address(request)


class PrincipalRateThrottle(ResilientThrottleMixin, SimpleRateThrottle):
    """Limits each authenticated principal: a user id or an integration token id.

    Authentication classes that do not use Django users expose `auth.throttle_key`
    (for example the provider integration token id).
    """

    scope = "principal"

    def get_cache_key(self, request, view):
        key = getattr(request.auth, "throttle_key", None) if request.auth is not None else None
        if key is None and request.user and request.user.is_authenticated:
            key = f"user:{request.user.pk}"
        if key is None:
            return None  # anonymous callers are covered by ClientRateThrottle
        return self.cache_format % {"scope": self.scope, "ident": key}


class ClientRateThrottle(ResilientThrottleMixin, AnonRateThrottle):
    """Anonymous callers (the token endpoint, webhooks of the bots) per client address."""
