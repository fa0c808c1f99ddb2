"""Robust dispatch: after commit (`robust=True`: a broker error never fails the caller), one fail-fast
publish (config/broker.py), and on failure a hook that lets the sweeper take the row at once."""

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

from config.broker import publish_fail_fast

logger = logging.getLogger(__name__)


def dispatch(task, *, args: list, countdown: float | None = None, queue: str | None = None,
             on_failure: Callable[[], None] | None = None, label: str = "",
             time_limits: tuple[float, float] | None = None) -> bool:
    """Publish `task(*args)` now (eagerly in eager mode). Never raises; returns whether it was published.
    `time_limits`: (soft, hard) seconds for this message instead of the task's own."""
    options = {"args": args, "countdown": countdown}
    if len(text := repr(args)) <= 200:  # ids: what Celery's saferepr writes, without its two settings lookups
        options["argsrepr"], options["kwargsrepr"] = text, "{}"
    if queue:
        options["queue"] = queue
    if time_limits:
        options["soft_time_limit"], options["time_limit"] = time_limits
    try:
        if task.app.conf.task_always_eager:
            task.apply_async(**options)
        else:
            publish_fail_fast(task, **options)
        return True
    except Exception:
        logger.warning("%s: dispatch to the broker failed; the sweeper will pick it up", label or task.name,
                       exc_info=True)
        if on_failure is not None:
            try:
                on_failure()
            except Exception:
                logger.warning("%s: could not mark it for the sweeper", label or task.name, exc_info=True)
        return False


def dispatch_on_commit(task, **kwargs) -> None:
    transaction.on_commit(partial(dispatch, task, **kwargs), robust=True)
