"""HTTP metrics: requests by route (the URL pattern, never the raw path), method and status, and latency."""

import time

from config.observability.metrics import http_observe

UNMATCHED = "<unmatched>"


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None and match.route else UNMATCHED


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        method = request.method if request.method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                                      "OPTIONS") else "OTHER"
        http_observe(route=_route(request), method=method, status=response.status_code,
                     seconds=time.monotonic() - started)
        return response
