"""Health endpoints (no authentication; they reveal no data, only check names and outcomes).

- `/healthz`: the database and the broker are reachable (unchanged, used by existing probes).
- `/healthz/live`: the process answers; checks nothing else, so an outage of a dependency never
  gets web restarted.
- `/healthz/ready`: the database, the broker, no unapplied migration, and every beat sweeper has
  succeeded within three of its intervals (docs/operations.md).
"""

import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from kombu import Connection

from config.observability.beat import STALE_FACTOR, sweeper_states, sweeper_tracking


def _check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
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


class NotReady(Exception):
    """A check that ran but found a problem; its message is shown as is."""


def _check_migrations() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        raise NotReady(f"не применены миграции ({len(plan)}): {names}")
    return "ok"


def _check_beat() -> str:
    tracking = sweeper_tracking()
    if tracking == "eager":
        return "eager"
    if tracking != "on":
        return "unknown: без общего кэша (REDIS_URL) выполнение beat не отслеживается"
    stale = [s for s in sweeper_states(now=time.time()) if s.stale]
    if not stale:
        return "ok"
    text = "; ".join(f"{s.task} не выполнялся {s.age:.0f} с (интервал {s.interval:.0f} с)" for s in stale)
    message = f"beat отстаёт (больше {STALE_FACTOR} интервалов): {text}"
    if settings.HEALTH_BEAT_STALE_FAILS_READY:
        raise NotReady(message)
    return message


def _run(checks) -> JsonResponse:
    results, healthy = {}, True
    for name, check in checks:
        try:
            results[name] = check()
        except NotReady as exc:
            results[name] = f"error: {exc}"
            healthy = False
        except Exception as exc:  # any failure means unhealthy; the class name is enough
            results[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )


def healthz(request):
    return _run((("database", _check_database), ("broker", _check_broker)))


def healthz_live(request):
    """Liveness: the process answers. Touches nothing else, so a database outage never restarts web."""
    return JsonResponse({"status": "ok"})


def healthz_ready(request):
    """Readiness: this process can serve (dependencies reachable, schema current, beat sweeping)."""
    return _run((("database", _check_database), ("broker", _check_broker), ("migrations", _check_migrations),
                 ("beat", _check_beat)))
