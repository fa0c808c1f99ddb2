"""`make run` (scripts/run_local.py): SQLite, no external service, and still a real background.

Issue 15: under `make run` an async notification stayed `pending` forever and a transient failure
was never retried. Now runserver runs beside a Celery worker and beat on kombu's filesystem broker.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from config.testing.fake_telegram import FakeTelegram
from config.testing.processes import alive, descendants, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # starts the whole local stack; `make test-fast` leaves it out


@pytest.fixture
def local_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
               CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker"), DJANGO_SETTINGS_MODULE="config.settings",
               SECRET_KEY="test-only-secret-key-not-for-production-use-0123456789")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def _service_token(env) -> str:
    out = subprocess.run([sys.executable, "manage.py", "create_service_account", "svc-notify", "--role",
                          "notifications", "--print-token"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return next(line.split()[-1] for line in out.splitlines() if "access" in line.lower())


@pytest.mark.integration
def test_make_run_delivers_async_sends_retries_transient_failures_and_stops_every_child(local_env, tmp_path):
    with FakeTelegram() as telegram:
        env = dict(local_env, TELEGRAM_BOT_TOKEN="123456:TEST-token", TELEGRAM_API_BASE_URL=telegram.url)
        token = _service_token(env)
        port = free_port()
        log = open(tmp_path / "run.log", "wb")
        run = subprocess.Popen([sys.executable, "scripts/run_local.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_for(lambda: _up(base)), (tmp_path / "run.log").read_text()[-3000:]
            headers = {"Authorization": f"Bearer {token}"}
            user = "7d0b8a52-6c55-4a1c-9a62-3f5b8a9d1e01"
            assert requests.put(f"{base}/notifications/recipients/{user}", json={"role": "user", "name": "Иван"},
                                headers=headers, timeout=10).status_code in (200, 201)
            db = sqlite3.connect(tmp_path / "run.sqlite3")
            db.execute("INSERT INTO notifications_servicebinding (recipient_id, service, service_user_id, is_active,"
                       " deactivated_reason, created_at, updated_at) VALUES (?, 'telegram', '555', 1, '',"
                       " datetime('now'), datetime('now'))", [user.replace("-", "")])
            db.commit()
            # given Telegram answers 502 once (transient)
            telegram.fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
            # when an async send is accepted
            response = requests.post(f"{base}/notifications/send", headers={**headers, "Prefer": "respond-async"},
                                     json={"user_id": user, "service": "telegram", "subject": "Тема",
                                           "type": "notification", "message": "Привет"}, timeout=10)
            assert response.status_code == 202, response.text
            pk = response.json()["notification_id"].replace("-", "")
            # then the worker delivers it after a retry: nothing stays pending
            assert wait_for(lambda: _status(db, pk) == "sent", timeout=60), (tmp_path / "run.log").read_text()[-3000:]
            assert len(telegram.calls("sendMessage")) == 2
        finally:
            children = descendants(run.pid)
            run.send_signal(signal.SIGTERM)
            run.wait(timeout=30)
            log.close()
        # and SIGTERM stopped runserver, the worker and beat
        assert children and wait_for(lambda: not any(alive(pid) for pid in children), timeout=15)


def _up(base) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code < 500
    except requests.RequestException:
        return False


def _status(db, pk) -> str:
    row = db.execute("SELECT status FROM notifications_notification WHERE id = ?", [pk]).fetchone()
    return row[0] if row else ""
