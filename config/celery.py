"""The Celery application.

Production-grade defaults live here, once, and every task inherits them:
late acknowledgement, re-queue on a lost worker, JSON only, and a Redis
visibility timeout longer than any countdown the project uses.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sbercrm")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _filesystem_broker_options() -> dict:
    """`make run` uses kombu's filesystem transport (no external service): one shared folder."""
    from pathlib import Path

    from django.conf import settings

    if not str(app.conf.broker_url or "").startswith("filesystem://"):
        return {}
    root = Path(os.environ.get("CELERY_FILESYSTEM_BROKER_DIR") or Path(settings.BASE_DIR) / ".celery-broker")
    for name in ("queue", "control"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(root / "queue"), "data_folder_out": str(root / "queue"),
            "control_folder": str(root / "control"), "store_processed": False}


def _pin_unset_keys() -> None:
    """Celery looks a setting up in Django's settings before its defaults; a key set nowhere costs a failed
    lookup (an AttributeError, ~22 µs) each time, about 15 per publish. The keys without a CELERY_* setting get
    their value (Celery's default) once; the CELERY_* settings are still read from Django's settings."""
    from celery.app.defaults import DEFAULTS
    from django.conf import settings

    app.conf.update({key: app.conf[key] for key in DEFAULTS
                     if key not in app.conf.changes and not hasattr(settings, f"CELERY_{key.upper()}")})


def _apply_defaults() -> None:
    from django.conf import settings

    _pin_unset_keys()
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
            **_filesystem_broker_options(),
        },
        beat_schedule=settings.CELERY_BEAT_SCHEDULE,
    )
    if str(app.conf.broker_url or "").startswith(("redis://", "rediss://")) and not app.conf.broker_transport:
        # kombu's Redis channel builds a redis-py client (~0.14 ms of CPU) for every command outside BRPOP: the
        # worker's unacked index on receipt and its ack, two per message. This channel keeps one per pool.
        app.conf.broker_transport = "config.broker:_Transport"


# Celery's Django fixup closes every database connection before and after each task unless CELERY_DB_REUSE_MAX
# is set: a new PostgreSQL backend (a process fork on the server) for every task, whatever DB_CONN_MAX_AGE says.
# The fixup is told never to close them; Django's own rule decides instead, as after a web request: a connection
# is closed when it is older than DB_CONN_MAX_AGE (0: after every task) or unusable after an error.
app.conf.CELERY_DB_REUSE_MAX = 2**62


def db_connections_tidy(sender=None, **kwargs) -> None:
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


signals.task_prerun.connect(db_connections_tidy, weak=False)
signals.task_postrun.connect(db_connections_tidy, weak=False)
app.on_after_configure.connect(lambda sender, **kwargs: _apply_defaults(), weak=False)
app.autodiscover_tasks()

import config.observability.celery_signals  # noqa: E402,F401  request id, task metrics, heartbeats (docs/operations.md)


@app.task(name="config.ping")
def ping(value: str = "pong") -> str:
    """Round-trip task used by the health check tests and operators."""
    return value
