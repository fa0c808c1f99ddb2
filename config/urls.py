from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from config.health import healthz, healthz_live, healthz_ready
from config.observability.views import metrics

admin.site.site_header = "SberCRM: администрирование"
admin.site.site_title = "SberCRM"
admin.site.index_title = "Back-office модераторов"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("healthz/live", healthz_live, name="healthz-live"),
    path("healthz/ready", healthz_ready, name="healthz-ready"),
    path("metrics", metrics, name="metrics"),  # Prometheus; allowed networks only (config/observability/views.py)
    path("admin/", admin.site.urls),
    # JWT for service accounts and marketplace developers.
    path("api/auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    # OpenAPI
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Developer portal (docs, no auth) with the public/internal/notifications OpenAPI documents
    path("developers/", include("communications.portal.urls")),
    # Applications
    path("api/v1/", include("communications.api.public.urls")),
    path("internal/v1/marketplace/", include("marketplace.api.urls")),
    path("internal/v1/", include("communications.api.internal.urls")),
    path("notifications/", include("notifications.api.urls")),
    path("bots/", include("bots.urls")),
]

handler400 = "config.api.views.bad_request"
handler403 = "config.api.views.permission_denied"
handler404 = "config.api.views.not_found"
handler500 = "config.api.views.server_error"

# --- Benchmarks: bench-only endpoints, mounted only with BENCH_ENDPOINTS=1 (never in production) ---
from django.conf import settings  # noqa: E402

if settings.BENCH_ENDPOINTS:
    urlpatterns.append(path("bench/", include("bench.urls")))
