"""Redis down for 30 s under load, on the production layout (issue 23, item 1).

Redis is cache and broker at once, as in docker-compose.yml. gunicorn (DEBUG=0), a Celery worker and
beat run as real processes on the test database. Operator messages and asynchronous notifications are
sent through HTTP before, during and after the outage. Every write must be accepted (no 5xx), and every
accepted message and notification must reach its receiver exactly once after Redis returns, brought
there by the sweepers (the tasks published during the outage are lost with the broker).
"""

import subprocess
import threading
import time
from collections import Counter

import pytest
import requests
from rest_framework_simplejwt.tokens import AccessToken

from communications.tests.factories import chat_make, provider_setup, tenant_install
from config.management.commands.create_service_account import service_account_ensure
from config.testing.fake_telegram import FakeTelegram
from config.testing.processes import ROOT, subprocess_env
from config.tests.observability.helpers import PYTHON, stop, wait_until

from .servers import PrivateRedis, run_gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]
CHATS, RECIPIENTS, OUTAGE, SWEEP = 4, 4, 30, 3


class Supervised:
    """A process kept running like compose's `restart: unless-stopped`: restarted whenever it exits.

    Celery's worker used to die on a broker restart (kombu's Redis transport: "'NoneType' object has no
    attribute 'hostname'" while it restores unacknowledged messages; config/broker.py turns that into a connection
    error now); a process that exits anyway is started again, as compose would, and fails the test at the end
    (the docs promise that none exits). Hanging would fail it too.
    """

    def __init__(self, name, args, env, tmp_path):
        self.name, self.args, self.env, self.tmp_path, self.restarts = name, args, env, tmp_path, 0
        self.stopping = threading.Event()
        self.process = self._start()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _start(self):
        log = open(self.tmp_path / f"{self.name}.log", "a")  # noqa: SIM115 (the child keeps it)
        return subprocess.Popen([PYTHON, "-m", "celery", "-A", "config", *self.args], cwd=ROOT, env=self.env,
                                stdout=log, stderr=log)

    def _watch(self):
        while not self.stopping.wait(0.5):
            if self.process.poll() is not None:
                self.restarts += 1
                self.process = self._start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        stop(self.process, timeout=20)


def _processes(tmp_path, env) -> list[Supervised]:
    """A worker and beat with compose's commands (beat's one-active lease lives in the same Redis)."""
    return [Supervised("worker", ["worker", "--loglevel", "INFO", "--concurrency", "2", "--without-gossip",
                                  "--without-mingle", "--without-heartbeat"], env, tmp_path),
            Supervised("beat", ["beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")],
                       env, tmp_path)]


def _diagnosis(tmp_path, tenant_id, recipients, messages, notifications, fake_provider, telegram) -> str:
    from communications.models import Delivery
    from notifications.models import Notification

    logs = "\n".join(f"--- {name}.log\n" + (tmp_path / f"{name}.log").read_text()[-3000:] for name in ("worker", "beat"))
    return (f"not everything arrived after the outage: provider accepted "
            f"{len(fake_provider.accepted_list('sendMessage'))}/{messages}, telegram {len(telegram.sent_messages())}/"
            f"{notifications}; deliveries {Counter(Delivery.objects.filter(tenant_id=tenant_id).values_list('status', flat=True))}; "
            f"notifications {Counter(Notification.objects.filter(recipient_id__in=recipients).values_list('status', flat=True))}"
            f"\n{logs}")


def test_redis_outage_under_load_loses_nothing_and_answers_no_5xx(transactional_db, tmp_path, fake_provider,
                                                                   make_recipient_with_telegram):  # noqa: F811
    from notifications.models import Notification

    # given: a provider with chats, recipients bound to a fake Telegram, and Redis of our own
    redis = PrivateRedis(tmp_path)
    redis.start()
    base = redis.url.rsplit("/", 1)[0]
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)  # its activation calls are swept to the layout's broker
    for n in range(CHATS):
        chat_make(tenant_id, provider, f"chat-{n}")
    crm = str(AccessToken.for_user(service_account_ensure(username="svc-crm-outage", role="crm")))
    notifier = str(AccessToken.for_user(service_account_ensure(username="svc-notif-outage", role="notifications")))
    answers: list[tuple[str, int]] = []
    with FakeTelegram() as telegram:
        recipients = [str(make_recipient_with_telegram(chat)) for chat in range(7000, 7000 + RECIPIENTS)]
        env = dict(REDIS_URL=f"{base}/0", CELERY_BROKER_URL=f"{base}/1", DELIVERY_SWEEP_INTERVAL=str(SWEEP),
                   DELIVERY_SWEEP_GRACE="1", DELIVERY_RETRY_SCHEDULE=",".join(["0.5"] * 9),
                   DELIVERY_RETRY_JITTER="0", TELEGRAM_BOT_TOKEN="123456:OUTAGE", TELEGRAM_API_BASE_URL=telegram.url,
                   TELEGRAM_RATE_LIMIT_PER_CHAT="100", HEARTBEAT_DIR="off", BEAT_LEASE_SECONDS="6",
                   THROTTLE_RATE_PRINCIPAL="100000/min")
        workers = _processes(tmp_path, subprocess_env(**env))
        try:
            with run_gunicorn(tmp_path, GUNICORN_WORKERS="2", **env) as web:
                url = f"http://127.0.0.1:{web.port}"
                stop_load = threading.Event()

                def load():
                    n = 0
                    with requests.Session() as session:
                        while not stop_load.is_set():
                            chat = n % CHATS
                            answer = session.post(
                                f"{url}/internal/v1/operator/chats/chat-{chat}/messages", timeout=30,
                                headers={"Authorization": f"Bearer {crm}"},
                                json={"tenantId": str(tenant_id), "providerCode": provider.code, "text": f"m{n}"})
                            answers.append((f"m{n}", answer.status_code))
                            if n % 3 == 0:
                                answer = session.post(
                                    f"{url}/notifications/send", timeout=30,
                                    headers={"Authorization": f"Bearer {notifier}", "Prefer": "respond-async"},
                                    json={"user_id": recipients[n % RECIPIENTS], "service": "telegram",
                                          "subject": "Сбой", "type": "notification", "message": f"n{n}"})
                                answers.append((f"n{n}", answer.status_code))
                            n += 1
                            time.sleep(0.05)

                # when: load runs; Redis stops for 30 s in the middle of it
                thread = threading.Thread(target=load)
                thread.start()
                time.sleep(5)
                redis.stop()
                time.sleep(OUTAGE)
                redis.start()  # the same port: every process reconnects on its own
                time.sleep(5)
                stop_load.set()
                thread.join(timeout=60)

                # then: every write was accepted, during the outage too
                assert Counter(code for _, code in answers) == Counter(
                    {201: sum(1 for key, _ in answers if key.startswith("m")),
                     202: sum(1 for key, _ in answers if key.startswith("n"))}), Counter(code for _, code in answers)
                sent_messages = sorted(key for key, _ in answers if key.startswith("m"))
                sent_notifications = sorted(key for key, _ in answers if key.startswith("n"))
                assert len(sent_messages) > 100 and len(sent_notifications) > 30  # the load was real

                # and every one arrives, exactly once, once the sweepers have run
                def arrived():
                    texts = [r.json["text"] for r in fake_provider.accepted_list("sendMessage")]
                    return len(texts) >= len(sent_messages) and len(telegram.sent_messages()) >= len(
                        sent_notifications)

                started = time.monotonic()
                try:
                    wait_until(arrived, timeout=180, interval=0.5)
                except AssertionError:
                    pytest.fail(_diagnosis(tmp_path, tenant_id, recipients, len(sent_messages),
                                           len(sent_notifications), fake_provider, telegram))
                print(f"everything arrived {time.monotonic() - started:.1f} s after load ended "
                      f"({len(sent_messages)} messages, {len(sent_notifications)} notifications)")
                time.sleep(2 * SWEEP)  # and two more sweeps send nothing twice
        finally:
            for process in workers:
                process.stop()
            print("restarts after the outage:", {process.name: process.restarts for process in workers})
            if redis.process.poll() is None:
                redis.stop()
        # and no process exited on the outage: the worker and beat reconnect (docs/reliability-and-security.md,
        # "Redis restarts: processes"); the supervisor's restart is the last line, as compose's
        assert {process.name: process.restarts for process in workers} == {"worker": 0, "beat": 0}
        accepted = [r.json["text"] for r in fake_provider.accepted_list("sendMessage")]
        assert sorted(accepted) == sent_messages and fake_provider.duplicates == 0
        for chat in range(CHATS):  # in order within each chat
            order = [int(t[1:]) for t in accepted if int(t[1:]) % CHATS == chat]
            assert order == sorted(order), chat
        texts = sorted(m["text"].split("\n", 1)[1] for m in telegram.sent_messages())
        assert texts == sent_notifications
    assert not Notification.objects.filter(recipient_id__in=recipients).exclude(status="sent").exists()
