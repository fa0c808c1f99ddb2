"""Per-principal rate limit shared by every web worker through the cache (Redis)."""

from rest_framework.throttling import SimpleRateThrottle


class PrincipalRateThrottle(SimpleRateThrottle):
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
            return None  # anonymous callers are covered by AnonRateThrottle
        return self.cache_format % {"scope": self.scope, "ident": key}
