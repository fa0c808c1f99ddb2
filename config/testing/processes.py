"""Real processes in tests (`make run`, `make demo`): free ports, waiting, and which processes are still alive."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    """Nobody listens on the port any more: we can bind it ourselves."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Running (a zombie is not)."""
    try:
        return _stat(pid)[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid`: children, their children, ..."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(_stat(int(stat.parent.name))[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1, on_tick=None) -> None:
    """Wait for `predicate()`; AssertionError when it does not hold in time. `on_tick` runs between polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if on_tick:
            on_tick()
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def subprocess_env(**extra: str) -> dict:
    """Environment for a child Django process sharing this test database and Redis DB."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    database_url = (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
                    f"{db['PORT'] or 5432}/{db['NAME']}")
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "PROVIDER_ALLOW_LOOPBACK": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.update(extra)
    return env


def start_worker_process(env: dict, queue: str, log_path: Path) -> subprocess.Popen:
    """A real `celery worker` child (solo pool) consuming `queue`, logging to `log_path`."""
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue, "-l", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_worker_processes(workers: list[subprocess.Popen]) -> None:
    """Terminate the processes a test started (kill, and reap, those that do not stop within 30 s)."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)


@contextmanager
def worker_killed_mid_call(env: dict, queue: str, log_dir: Path, *, in_flight, on_kill=None, drop_queue=True,
                           timeout: float = 90.0):
    """A real worker on `queue`, SIGKILLed once `in_flight()` holds (its call hangs at the remote), and a second
    worker started in its place; the block then waits for the recovery. Both stop on exit, and `queue` is emptied.

    `on_kill` runs between the kill and the second worker's start (e.g. to let the remote answer again).
    """
    workers = [start_worker_process(env, queue, log_dir / "worker1.log")]
    try:
        try:
            wait_until(in_flight, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"the call never started; worker log:\n{(log_dir / 'worker1.log').read_text()[-2000:]}")
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        if on_kill:
            on_kill()
        workers.append(start_worker_process(env, queue, log_dir / "worker2.log"))
        yield workers
    finally:
        stop_worker_processes(workers)
        if drop_queue:
            from config.celery import app

            with app.connection_for_write() as conn:
                conn.default_channel.client.delete(queue)
