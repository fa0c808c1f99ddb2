"""The one retry policy: the wait after failed attempt N from the kind's schedule (`Kind.retry_schedule`),
±jitter, Retry-After honoured up to a cap."""

import random

from django.conf import settings


def retry_delay(waits: list[float], attempt: int, retry_after: float | None = None, *,
                jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based); the schedule's last wait repeats."""
    base = waits[min(max(attempt, 1), len(waits)) - 1]
    jitter = settings.DELIVERY_RETRY_JITTER if jitter is None else jitter
    delay = base * random.uniform(1 - jitter, 1 + jitter) if jitter else base
    if retry_after:
        delay = max(delay, min(retry_after, settings.DELIVERY_RETRY_AFTER_MAX))
    return delay
