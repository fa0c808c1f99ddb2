"""Every API answers in UTC with `Z` (docs/public-api.md); only the admin shows TIME_ZONE (Moscow)."""

from datetime import UTC

from django.utils import timezone


class UtcOutsideAdminMiddleware:
    """Activate UTC for every request but the admin's: DRF renders datetimes in the current time zone,
    and in UTC its ISO 8601 output ends with `Z`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/"):
            return self.get_response(request)
        with timezone.override(UTC):
            return self.get_response(request)
