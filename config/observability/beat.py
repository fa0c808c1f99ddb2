"""Beat: when each periodic sweeper last succeeded, staleness, and one active beat at a time.

Workers record the success of every task in CELERY_BEAT_SCHEDULE in the shared cache (Redis);
readiness, the admin dashboard and /metrics read it. A sweeper is stale when it has not succeeded
for STALE_FACTOR of its intervals, counted from its last success or, if it never succeeded, from
when anyone first looked (so a beat that never started is noticed too).
"""

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from celery.beat import PersistentScheduler
from django.conf import settings
from django.core.cache import cache

from config.observability.heartbeat import heartbeat_touch

logger = logging.getLogger(__name__)
STALE_FACTOR = 3
_LAST = "ops:beat:last:"
_WATCH_SINCE = "ops:beat:watch-since"


@dataclass(frozen=True)
class SweeperState:
    task: str
    interval: float  # seconds
    last_success: float | None  # unix time
    stale: bool
    age: float  # seconds since the last success (or since watching began)


def sweeper_intervals() -> dict[str, float]:
    """Task name → interval (seconds) of every interval-based entry of the beat schedule."""
    intervals = {}
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        schedule = entry.get("schedule")
        if isinstance(schedule, timedelta):
            seconds = schedule.total_seconds()
        elif isinstance(schedule, int | float):
            seconds = float(schedule)
        elif hasattr(schedule, "run_every"):
            seconds = schedule.run_every.total_seconds()
        else:
            continue  # crontab: no fixed interval
        intervals[entry["task"]] = min(seconds, intervals.get(entry["task"], seconds))
    return intervals


def sweeper_success_record(task_name: str, *, when: float | None = None) -> None:
    if task_name in sweeper_intervals():
        try:
            cache.set(_LAST + task_name, when or time.time(), timeout=None)
        except Exception:  # the cache being down must not fail the sweep itself
            logger.warning("could not record the success of %s", task_name, exc_info=True)


def sweeper_tracking() -> str:
    """"on" when beat sweepers can be watched; else why not ("eager": no broker, no beat; "local-cache":
    without a shared cache (REDIS_URL) the workers' records never reach the web processes)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return "local-cache"
    return "on"


def sweeper_states(*, now: float | None = None) -> list[SweeperState]:
    now = now or time.time()
    intervals = sweeper_intervals()
    cache.add(_WATCH_SINCE, now, timeout=None)
    watched_since = cache.get(_WATCH_SINCE) or now
    last = cache.get_many([_LAST + name for name in intervals])
    states = []
    for name, interval in sorted(intervals.items()):
        success = last.get(_LAST + name)
        age = now - (success or watched_since)
        states.append(SweeperState(task=name, interval=interval, last_success=success,
                                   stale=age > STALE_FACTOR * interval, age=max(age, 0.0)))
    return states


# --- one active beat ------------------------------------------------------------------

_LEAD_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('expire', KEYS[1], ARGV[2]) return 1
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


class LeaderScheduler(PersistentScheduler):
    """PersistentScheduler that touches the beat heartbeat on every tick and sends only while it
    holds a Redis lease, so a second beat started by mistake stays on standby instead of
    doubling every periodic task. Without a Redis broker it always leads."""

    lease_key = "ops:beat:leader"

    def __init__(self, *args, **kwargs):
        self.lease_seconds = max(int(getattr(settings, "BEAT_LEASE_SECONDS", 30)), 3)
        self.standby_recheck = min(5.0, self.lease_seconds / 3)
        self._identity = f"{socket.gethostname()}:{os.getpid()}"
        self._redis = None
        self._leading = None
        super().__init__(*args, **kwargs)

    def _lead(self) -> bool:
        url = self.app.conf.broker_url or ""
        if not url.startswith(("redis://", "rediss://")):
            return True
        try:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            leading = bool(self._redis.eval(_LEAD_SCRIPT, 1, self.lease_key, self._identity, self.lease_seconds))
        except Exception as exc:
            logger.warning("beat: leader lease check failed (%s); not sending this tick", type(exc).__name__)
            leading = False
        if leading != self._leading:
            logger.warning("beat %s: %s", self._identity, "active" if leading else "standby (another beat is active)")
            self._leading = leading
        return leading

    def tick(self, *args, **kwargs):
        heartbeat_touch("beat")
        if not self._lead():
            return self.standby_recheck
        # Never sleep past the lease, or a standby beat would take over while this one sleeps.
        return min(super().tick(*args, **kwargs), self.lease_seconds / 3)
