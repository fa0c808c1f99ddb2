"""The one retry policy: wait after failed attempt N, per kind, from settings; ±jitter; Retry-After honoured."""

import random

from django.conf import settings


def schedule(kind: str) -> list[float]:
    """Waits after failed attempts 1, 2, … for `kind` (the last one repeats)."""
    if kind in ("provider", "webhook", "callback"):
        return list(settings.DELIVERY_RETRY_SCHEDULE)
    if kind == "notification":
        return list(settings.NOTIFICATIONS_RETRY_SCHEDULE)
    if kind == "sync_page":
        return [settings.INITIAL_SYNC_RETRY_DELAY * 2 ** n for n in range(settings.INITIAL_SYNC_MAX_ATTEMPTS)]
    if kind == "attachment_fetch":
        return list(settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE)
    raise ValueError(f"unknown delivery kind {kind!r}")


def max_attempts(kind: str) -> int:
    if kind in ("provider", "webhook", "callback"):
        return len(settings.DELIVERY_RETRY_SCHEDULE) + 1
    if kind == "notification":
        return settings.NOTIFICATIONS_MAX_ATTEMPTS
    if kind == "sync_page":
        return settings.INITIAL_SYNC_MAX_ATTEMPTS
    if kind == "attachment_fetch":
        return len(settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE) + 1
    raise ValueError(f"unknown delivery kind {kind!r}")


def retry_delay(kind: str, attempt: int, retry_after: float | None = None, *, jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    waits = schedule(kind)
    base = waits[min(max(attempt, 1), len(waits)) - 1]
    jitter = settings.DELIVERY_RETRY_JITTER if jitter is None else jitter
    delay = base * random.uniform(1 - jitter, 1 + jitter) if jitter else base
    if retry_after:
        delay = max(delay, min(retry_after, settings.DELIVERY_RETRY_AFTER_MAX))
    return delay
