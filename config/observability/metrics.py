"""Prometheus metrics of the platform and the one-line helpers the code calls.

Works in single-process mode and in prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR set
before the process imports prometheus_client: several gunicorn workers, Celery prefork children). Every
metric has labels, so no file is written before the first observation. Gauges that describe the database
(backlog, oldest pending age) and the beat sweepers are computed at scrape time by
config.observability.collectors, never stored here.
"""

from django.utils import timezone
from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 150, 600)

HTTP_REQUESTS = Counter("sbercrm_http_requests", "HTTP requests by route, method and status.",
                        ["route", "method", "status"])
HTTP_LATENCY = Histogram("sbercrm_http_request_duration_seconds", "HTTP request latency by route and method.",
                         ["route", "method"], buckets=LATENCY_BUCKETS)
DELIVERIES = Counter("sbercrm_deliveries", "Delivery task outcomes by kind (provider/webhook).",
                     ["kind", "outcome"])
ATTEMPTS = Counter("sbercrm_delivery_attempts", "Calls made to providers/webhooks, by provider and outcome.",
                   ["provider", "outcome"])
ATTEMPT_LATENCY = Histogram("sbercrm_delivery_attempt_duration_seconds", "Duration of one call, by provider.",
                            ["provider"], buckets=CALL_BUCKETS)
NOTIFICATIONS = Counter("sbercrm_notifications", "Notifications finished, by channel and outcome.",
                        ["channel", "outcome"])
BOT_UPDATES = Counter("sbercrm_bot_updates", "Bot updates handled, by bot and outcome.", ["bot", "outcome"])
TASKS = Counter("sbercrm_celery_tasks", "Celery tasks finished, by task and state.", ["task", "state"])
TASK_FAILURES = Counter("sbercrm_celery_task_failures", "Celery tasks that raised, by task.", ["task"])
TASK_RUNTIME = Histogram("sbercrm_celery_task_duration_seconds", "Celery task runtime, by task.", ["task"],
                         buckets=TASK_BUCKETS)

# Outcomes of `delivery_send` that made a call (the others only looked at the row).
CALL_OUTCOMES = ("delivered", "retry", "dead", "superseded", "refused", "unknown")


def http_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def delivery_outcome_observe(*, kind: str, outcome: str) -> None:
    DELIVERIES.labels(kind, outcome).inc()


def attempt_observe(*, provider: str, outcome: str, seconds: float) -> None:
    ATTEMPTS.labels(provider, outcome).inc()
    ATTEMPT_LATENCY.labels(provider).observe(seconds)


def delivery_send_observe(*, delivery, outcome: str, latency_ms: int | None = None, started_at=None) -> None:
    """One hook after an outbox attempt: the outcome by kind, and the call by receiver when one was made
    (latency: the client's measure, or the time since the claim when the call raised)."""
    delivery_outcome_observe(kind=delivery.kind, outcome=outcome)
    if outcome in CALL_OUTCOMES:
        if latency_ms is not None:
            seconds = latency_ms / 1000
        else:
            seconds = (timezone.now() - started_at).total_seconds() if started_at else 0.0
        receiver = delivery.provider.code if delivery.provider_id else delivery.kind  # no provider: callbacks
        attempt_observe(provider=receiver, outcome=outcome, seconds=seconds)


def notification_observe(*, channel: str, outcome: str) -> None:
    NOTIFICATIONS.labels(channel, outcome).inc()


def bot_update_observe(*, bot: str, ok: bool) -> None:
    BOT_UPDATES.labels(bot, "handled" if ok else "failed").inc()


def task_observe(*, task: str, state: str, seconds: float | None) -> None:
    TASKS.labels(task, state).inc()
    if seconds is not None:
        TASK_RUNTIME.labels(task).observe(seconds)
    if state == "FAILURE":
        TASK_FAILURES.labels(task).inc()
