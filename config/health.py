"""`/healthz`: reports whether the database and the broker are reachable."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2,
                    transport_options={"socket_timeout": 2}) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def healthz(request):
    checks, healthy = {}, True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means unhealthy; the class name is enough
            checks[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def healthz_live(request):
    """Liveness: the process answers. Touches nothing else, so a database outage never restarts web."""
    return JsonResponse({"status": "ok"})


def healthz_ready(request):
    return healthz(request)  # replaced below
