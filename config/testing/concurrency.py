"""Real concurrency in tests: calls released at the same moment, each thread with its own database connection."""

import threading
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
