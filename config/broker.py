"""Fail-fast publishing for dispatch after commit.

kombu's defaults retry a dead broker for seconds before giving up; a request that has already
committed must not wait for that. `publish_fail_fast` makes one ~1 s connection attempt and
raises; callers (the communications outbox, async notifications) log and leave the row to
their periodic sweeper.
"""

import os

_pool = None  # (pid, kombu connection pool); rebuilt after fork and after a failure


def _connections():
    global _pool
    from config.celery import app

    if _pool is None or _pool[0] != os.getpid():
        connection = app.connection_for_write(
            connect_timeout=1, transport_options={"max_retries": 0, "socket_connect_timeout": 1, "socket_timeout": 3})
        _pool = (os.getpid(), connection.Pool(limit=app.conf.broker_pool_limit or 10))
    return _pool[1]


def publish_fail_fast(task, **options) -> None:
    """`task.apply_async(**options)` through a fail-fast connection; raises on a broker error."""
    global _pool
    try:
        with _connections().acquire(block=True, timeout=5) as connection:
            task.apply_async(connection=connection, retry=False, **options)
    except Exception:
        pool, _pool = _pool, None
        if pool is not None:
            pool[1].force_close_all()
        raise
