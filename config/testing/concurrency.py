"""Real concurrency in tests: calls released at the same moment, each thread with its own database connection."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


def at_once(*calls, timeout: float = 30.0) -> list:
    """Run the callables in threads that a barrier releases together; their results, in the order given.

    An exception raised by a call is returned in its place (so a test can assert there were none). Each thread
    closes its database connection when done.
    """
    from django.db import connection

    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=timeout)
            return call()
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def lock_waiters(cursor, *, event: str = "") -> int:
    """How many backends of this database wait for a lock now (`event`: of this kind only, e.g. "advisory"), as
    PostgreSQL reports it (`pg_stat_activity`; inside a transaction the view is a snapshot: cleared first)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    params = []
    if event:
        sql += " AND wait_event = %s"
        params.append(event)
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


def wait_for_a_lock_wait(cursor, *, event: str = "", waiters: int = 1, timeout: float = 6.0) -> None:
    """Return once `waiters` backends of this database wait for a lock (`lock_waiters`); AssertionError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while lock_waiters(cursor, event=event) < waiters:
        if time.monotonic() >= deadline:
            raise AssertionError(f"fewer than {waiters} wait for a{'n ' + event if event else ''} lock")
        time.sleep(0.02)


@contextmanager
def _in_another_transaction(body, *, timeout: float = 30.0):
    """Another thread runs `body(ready, release)` in a transaction and commits: the block starts once the body calls
    `ready()`, and `release` is set when the block ends. Yields an Event set once that transaction has committed."""
    from django.db import connection, transaction

    ready, release, committed, failures = threading.Event(), threading.Event(), threading.Event(), []

    def run():
        try:
            with transaction.atomic():
                body(ready.set, release)
            committed.set()
        except Exception as exc:
            failures.append(exc)
        finally:
            ready.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(timeout)
    try:
        yield committed
    finally:
        release.set()
        thread.join(timeout)
    assert failures == []


def another_transaction(first, *, then=None, until_waiters: int = 1):
    """Another transaction runs `first()`; once `until_waiters` backends wait for a lock, it runs `then()` (if
    given) and commits.

    It checks for deadlocks only after 10 s (the code under test: after PostgreSQL's default 1 s),
    so the code under test is always the transaction PostgreSQL aborts.
    """
    from django.db import connection

    def body(ready, release):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '10s'")
        first()
        ready()
        with connection.cursor() as cursor:
            wait_for_a_lock_wait(cursor, waiters=until_waiters)
        if then is not None:
            then()

    return _in_another_transaction(body)


def holding(work, *, timeout: float = 30.0):
    """Another thread runs `work()` in a transaction and holds it open, with its locks, until the block ends; then
    it commits. Yields an Event that is set once that transaction has committed."""

    def body(ready, release):
        work()
        ready()
        release.wait(timeout)

    return _in_another_transaction(body, timeout=timeout)
