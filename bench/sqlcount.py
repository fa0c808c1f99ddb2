"""SQL statements per item for `make bench` (PostgreSQL's pg_stat_statements is not preloaded on the
bench server, so the stack counts its own statements).

With BENCH_SQL_COUNT_DIR set (bench/run.py sets it for gunicorn and Celery), every process of the stack
adds a Django execute wrapper to each database connection that increments an 8-byte counter in a
memory-mapped file `<dir>/<pid>` (no system call per statement). bench/run.py sums the files before
and after a scenario. Counted: every statement sent through Django's cursor (ORM, raw SQL, savepoints,
`executemany` counts once); not counted: the BEGIN/COMMIT psycopg issues itself.
"""

import mmap
import os
import struct
from pathlib import Path

ENV = "BENCH_SQL_COUNT_DIR"
_state: dict = {}


def _counter() -> mmap.mmap:
    pid = os.getpid()
    if _state.get("pid") != pid:  # a forked child (prefork pool, gunicorn worker) gets its own file
        path = Path(os.environ[ENV]) / str(pid)
        with open(path, "w+b") as handle:
            handle.write(b"\0" * 8)
            handle.flush()
            _state.update(pid=pid, map=mmap.mmap(handle.fileno(), 8))
    return _state["map"]


def _count(execute, sql, params, many, context):
    counter = _counter()
    counter[:8] = struct.pack("<q", struct.unpack("<q", counter[:8])[0] + 1)
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


def install() -> None:
    """Called from the bench app's ready() only when BENCH_SQL_COUNT_DIR is set."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection, dispatch_uid="bench-sql-count")


def total(directory: Path) -> int:
    """Statements counted so far by every process that wrote into `directory` (exited ones included)."""
    count = 0
    for path in directory.iterdir():
        data = path.read_bytes()[:8]
        if len(data) == 8:
            count += struct.unpack("<q", data)[0]
    return count
