"""Real concurrency in tests: calls released at the same moment, each thread with its own database connection."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor


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


def wait_for_a_lock_wait(cursor, *, event: str = "", timeout: float = 6.0) -> None:
    """Return once a backend of this database waits for a lock (`event`: of this kind only, e.g. "advisory"), as
    PostgreSQL reports it (`pg_stat_activity`); AssertionError after `timeout` seconds."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    params = []
    if event:
        sql += " AND wait_event = %s"
        params.append(event)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is read once otherwise
        cursor.execute(sql, params)
        if cursor.fetchone()[0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"nobody waits for a{'n ' + event if event else ''} lock")
