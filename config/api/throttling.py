"""Rate limits shared by every web worker through the cache (Redis).

Both throttles identify an anonymous caller by `config.api.networks.client_address` (the
forwarded address only from our own proxy), and keep limiting when Redis is down: the
count falls back to this process's memory (logged and counted), never a 500.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)


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
    """Counts in the shared cache; in this process's memory while the shared cache fails."""

    def allow_request(self, request, view):
        shared = self.cache
        if not fallback.active():
            try:
                allowed = super().allow_request(request, view)
            except (RedisError, OSError) as exc:  # connection refused, timeouts, a server going away
                fallback.record(exc)
            else:
                fallback.recovered()
                return allowed
        else:
            fallback.record(None)
        self.cache = fallback.local
        try:
            return super().allow_request(request, view)
        finally:
            self.cache = shared

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
