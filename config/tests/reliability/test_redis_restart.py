"""The worker and beat of docker-compose.yml survive a Redis restart.

Each runs with the exact command of its compose service, against a private redis-server
(broker and results) that the test stops and starts again with empty memory.
"""

import subprocess

import pytest
import redis
import yaml
from celery import Celery

from config.testing.processes import ROOT, stop_worker_processes, subprocess_env, wait_until

from .servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a real Redis restarted under real processes
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def compose_command(service: str, **replace: str) -> list[str]:
    command = list(SERVICES[service]["command"])
    for option, value in replace.items():
        command[command.index(option) + 1] = value
    return [arg.replace("celery", f"{ROOT}/.venv/bin/celery", 1) if i == 0 else arg for i, arg in enumerate(command)]


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def _start(command: list[str], server: PrivateRedis, log, **env: str) -> subprocess.Popen:
    environment = subprocess_env(CELERY_BROKER_URL=server.url, CELERY_RESULT_BACKEND=server.url, REDIS_URL=server.url,
                                 **env)
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _ping(app: Celery, value: str) -> str:
    return app.send_task("config.ping", args=[value]).get(timeout=120)


def test_the_worker_serves_again_after_redis_restarts(transactional_db, private_redis, tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to the broker argument
    log_path = tmp_path / "worker.log"
    with open(log_path, "ab") as log:
        worker = _start(compose_command("worker", **{"--concurrency": "1"}), private_redis, log)
    client = Celery(broker=private_redis.url, backend=private_redis.url)
    try:
        assert _ping(client, "before") == "before"
        # when: Redis goes away until the worker notices, then comes back empty
        private_redis.stop()
        wait_until(lambda: "lost" in log_path.read_text().lower() or "error" in log_path.read_text().lower(),
                   timeout=60, interval=0.5)
        private_redis.start()
        # then: the same worker process takes new tasks
        assert _ping(client, "after") == "after"
        assert worker.poll() is None
        assert "Unrecoverable error" not in log_path.read_text()
    finally:
        client.close()
        stop_worker_processes([worker])


def test_beat_publishes_again_after_redis_restarts(transactional_db, private_redis, tmp_path):
    log_path = tmp_path / "beat.log"
    with open(log_path, "ab") as log:
        beat = _start(compose_command("beat", **{"--schedule": str(tmp_path / "celerybeat-schedule")}), private_redis,
                      log, DELIVERY_SWEEP_INTERVAL="1")
    queue = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    try:
        wait_until(lambda: queue.llen("celery") > 0, timeout=90, interval=0.5)
        # when: Redis restarts with empty memory
        private_redis.stop()
        wait_until(lambda: "error" in log_path.read_text().lower(), timeout=60, interval=0.5)
        private_redis.start()
        # then: the same beat process publishes the periodic sweeps again
        wait_until(lambda: queue.llen("celery") > 0, timeout=120, interval=0.5)
        assert beat.poll() is None
    finally:
        queue.close()
        stop_worker_processes([beat])
