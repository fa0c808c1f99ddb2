"""`make run` and `make demo` stop every child process they started, on SIGINT and SIGTERM alike, and also when
whoever started them is gone: afterwards the port is free and no child survives (issue 22)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from config.testing.processes import alive, descendants, free_port, port_free, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each starts the local stack; `make test-fast` leaves them out


def _serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def local_env(tmp_path_factory):
    """`make run`'s environment on a migrated SQLite database of its own."""
    tmp = tmp_path_factory.mktemp("run")
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp / 'run.sqlite3'}", DJANGO_SETTINGS_MODULE="config.settings",
               CELERY_FILESYSTEM_BROKER_DIR=str(tmp / "broker"))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def _start(command, env, port, log_path):
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        assert wait_for(lambda: _serving(port), timeout=120), log_path.read_text()[-3000:]
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process


def _assert_all_stopped(process, children, port, log_path):
    process.wait(timeout=30)
    assert wait_for(lambda: not any(alive(pid) for pid in children), timeout=20), log_path.read_text()[-3000:]
    assert wait_for(lambda: port_free(port), timeout=10)


@pytest.mark.parametrize(("signum", "to_group"), [
    (signal.SIGTERM, False),  # `kill <make's pid>`: make forwards SIGTERM to run_local.py
    (signal.SIGINT, True),  # Ctrl+C: the terminal signals the whole foreground group (make and run_local.py)
])
def test_make_run_stops_runserver_worker_and_beat_on_the_signal(local_env, tmp_path, signum, to_group):
    # given `make run` serving (make itself, then run_local.py, then runserver + its reloader, worker, beat)
    port = free_port()
    make = _start(["make", "-s", "-o", "demo-data", "run", f"PORT={port}"], local_env, port, tmp_path / "run.log")
    children = descendants(make.pid)
    assert len(children) >= 4  # run_local.py, web (and its reloader child), worker, beat
    # when
    if to_group:
        os.killpg(make.pid, signum)
    else:
        make.send_signal(signum)
    # then
    _assert_all_stopped(make, children, port, tmp_path / "run.log")
    assert "run: all stopped" in (tmp_path / "run.log").read_text()


def test_run_local_stops_everything_when_its_parent_is_killed(local_env, tmp_path):
    # given run_local.py started by a parent that is then killed outright (no chance to forward anything)
    port = free_port()
    parent = _start(["sh", "-c", f'"{sys.executable}" scripts/run_local.py --port {port} & wait'], local_env, port,
                    tmp_path / "run.log")
    children = descendants(parent.pid)
    # when
    parent.kill()
    # then
    _assert_all_stopped(parent, children, port, tmp_path / "run.log")


def test_make_demo_stops_its_server_on_sigterm(tmp_path):
    # given the demo's server is up (the story is running against it)
    port = free_port()
    env = {**os.environ, "DEMO_PORT": str(port)}
    demo = _start([sys.executable, "scripts/demo.py", "--db", str(tmp_path / "demo.sqlite3")], env, port,
                  tmp_path / "demo.log")
    children = descendants(demo.pid)
    assert children  # runserver
    # when
    demo.send_signal(signal.SIGTERM)
    # then
    _assert_all_stopped(demo, children, port, tmp_path / "demo.log")
    assert demo.returncode == 128 + signal.SIGTERM
