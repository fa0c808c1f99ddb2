"""One trailing-slash rule for every API (docs/public-api.md): the canonical path has no trailing slash,
and the same path with one reaches the same view. No redirect: a POST keeps its body."""

from django.urls import Resolver404, resolve


class TrailingSlashMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if len(path) > 1 and path.endswith("/") and not _resolves(path) and _resolves(path.rstrip("/")):
            request.path_info = path.rstrip("/")
        return self.get_response(request)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
