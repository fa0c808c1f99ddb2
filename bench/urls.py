"""Benchmark-only endpoints (`bench/run.py`), mounted at `/bench/` ONLY when `BENCH_ENDPOINTS=1`.

- `GET /bench/ping`   a plain Django view, no database: shows the load generator is not the bottleneck.
- `POST /bench/floor` the S4 floor: exactly the public API's stack (integration-token
  authentication, throttling, parser) and then one INSERT. Public API figures are compared to it.

Never enabled in production: the setting defaults to off, and then neither is the bench app installed nor
does `config/urls.py` import this module (a test checks both paths are 404 by default).
"""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from bench.models import BenchRow
from communications.api.public.views import PublicAPIView


def ping(request):
    return HttpResponse(b"pong", content_type="text/plain")


@extend_schema(exclude=True)
class FloorView(PublicAPIView):
    def post(self, request):
        row = BenchRow.objects.create(tenant_id=request.user.tenant_id)
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("ping", ping, name="bench-ping"),
    path("floor", FloorView.as_view(), name="bench-floor"),
]
