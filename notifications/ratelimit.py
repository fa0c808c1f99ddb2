"""Fixed-window rate limits shared by every web process and Celery worker.

Counters live in the Django cache, which is Redis in every deployment with more
than one process (`REDIS_URL`). A window is one second: `INCR` on
`notifications:rl:<scope>:<second>`; over the limit means "wait for the next window".
"""

import time

from django.core.cache import cache


def acquire(scope: str, limit: int, *, window: float = 1.0) -> float:
    """Take one slot. Returns 0 when granted, else the seconds until the next window."""
    now = time.time()
    slot = int(now // window)
    key = f"notifications:rl:{scope}:{slot}"
    cache.add(key, 0, timeout=int(window) + 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=int(window) + 2)
        count = 1
    if count <= limit:
        return 0.0
    return max((slot + 1) * window - now, 0.01)


def acquire_all(limits: list[tuple[str, int]]) -> float:
    """Take a slot in each (scope, limit); 0 when all granted, else the longest wait."""
    return max((acquire(scope, limit) for scope, limit in limits), default=0.0)
