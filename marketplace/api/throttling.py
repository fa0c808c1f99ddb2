"""Sign-up throttles: per client address and per email address (rates `signup`, `signup_email`)."""

import hashlib

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from config.api.throttling import ClientRateThrottle, ResilientThrottleMixin


class _CurrentRate:
    """The rate read from the current settings (DRF binds THROTTLE_RATES once, at import)."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class SignupClientThrottle(_CurrentRate, ClientRateThrottle):
    scope = "signup"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupEmailThrottle(_CurrentRate, ResilientThrottleMixin, SimpleRateThrottle):
    """Counts sign-ups per normalized email (hashed: no address in cache keys)."""

    scope = "signup_email"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None
        ident = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
