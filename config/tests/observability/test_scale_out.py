"""Scale-out on PostgreSQL + Redis (issue 20): 2 web processes, 3 workers with different hostnames and
2 beat processes at once (an operator's mistake), all real processes sharing one database and broker.

Every provider call must be made exactly once (one 2xx per idempotency key), in order within each chat,
and the sweepers of the two beats must never send anything twice.
"""

import json
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework_simplejwt.tokens import AccessToken

from communications.models import Delivery
from communications.tests.factories import chat_make, provider_setup, tenant_install
from config.management.commands.create_service_account import service_account_ensure
from config.observability.heartbeat import main as heartbeat_check
from config.testing.fake_provider import Reaction
from config.tests.observability.helpers import (
    PYTHON,
    ROOT,
    child_env,
    free_port,
    port_open,
    private_redis,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]
CHATS, MESSAGES_PER_CHAT, FAILURES, SLOW = 4, 6, 5, 0.2


def _db_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _delivered_total(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "sbercrm_deliveries_total" and s.labels.get("outcome") == "delivered")


@pytest.fixture
def cluster(transactional_db, tmp_path, fake_provider):
    """Starts the processes; yields (web ports, worker metric ports, tmp dir, logs, processes by name)."""
    processes, logs = {}, {}
    with private_redis(tmp_path) as (_, redis_url):
        base = redis_url.rsplit("/", 1)[0]
        env = dict(DATABASE_URL=_db_url(), REDIS_URL=f"{base}/0", CELERY_BROKER_URL=f"{base}/1",
                   DELIVERY_SWEEP_INTERVAL=2, DELIVERY_SWEEP_GRACE=1, DELIVERY_RETRY_SCHEDULE=",".join(["0.3"] * 9),
                   DELIVERY_RETRY_JITTER=0, PROVIDER_ALLOW_LOOPBACK=1, PROVIDER_READ_TIMEOUT=5, BEAT_LEASE_SECONDS=6,
                   DELIVERY_FEED_DRAINERS=6)  # the worker processes of the cluster, as docs/scaling.md advises

        def start(name, args, **extra):
            log = tmp_path / f"{name}.log"
            logs[name] = log
            processes[name] = subprocess.Popen(args, cwd=ROOT, env=child_env(**env, **extra),
                                               stdout=log.open("w"), stderr=subprocess.STDOUT)

        web_ports, worker_ports = [free_port(), free_port()], [free_port(), free_port(), free_port()]
        try:
            for i, port in enumerate(web_ports):
                start(f"web{i}", [PYTHON, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                  "config.wsgi:application"], PROMETHEUS_MULTIPROC_DIR=tmp_path / f"prom-web{i}",
                      HEARTBEAT_DIR="off")
            for i, port in enumerate(worker_ports):
                start(f"worker{i}", [PYTHON, "-m", "celery", "-A", "config", "worker", "-n", f"w{i}@scale-host-{i}",
                                     "--pool", "prefork", "--concurrency", "2", "--without-gossip", "--without-mingle"],
                      PROMETHEUS_MULTIPROC_DIR=tmp_path / f"prom-worker{i}", METRICS_PORT=port,
                      HEARTBEAT_DIR=tmp_path / f"hb-worker{i}")
            for i in range(2):
                start(f"beat{i}", [PYTHON, "-m", "celery", "-A", "config", "beat", "-s", str(tmp_path / f"beat{i}.db")],
                      HEARTBEAT_DIR=tmp_path / f"hb-beat{i}")
            for port in web_ports + worker_ports:
                wait_until(lambda p=port: port_open(p), timeout=90, message=f"port {port} did not open")
            yield web_ports, worker_ports, tmp_path, logs, processes
        finally:
            for process in processes.values():
                stop(process, timeout=20)


def test_two_webs_three_workers_two_beats_send_every_call_once_and_in_order(cluster, fake_provider, monkeypatch):
    web_ports, worker_ports, tmp_path, logs, processes = cluster
    # given: an active integration with chats, and a CRM service account
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)  # its activation calls are sent by the cluster's sweepers
    for n in range(CHATS):
        chat_make(tenant_id, provider, f"chat-{n}")
    token = str(AccessToken.for_user(service_account_ensure(username="svc-crm-scale", role="crm")))
    fake_provider.fail_endpoint("sendMessage", count=FAILURES, status=503)
    # a slow provider: the four chats' rows wait in the feed, so drainers start on several workers
    fake_provider.on("sendMessage", Reaction(delay=SLOW))

    def send(job):
        chat, number = job
        port = web_ports[(chat + number) % 2]  # alternate the web processes
        body = json.dumps({"tenantId": str(tenant_id), "providerCode": provider.code, "text": f"c{chat}-m{number}"})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/internal/v1/operator/chats/chat-{chat}/messages",
                                         data=body.encode(), method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json",
                                                  "X-Request-Id": f"scale-{chat}-{number}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["X-Request-Id"]

    # when: each chat's messages are sent one after another, the chats in parallel, through both webs
    def chat_run(chat):
        return [send((chat, number)) for number in range(MESSAGES_PER_CHAT)]

    with ThreadPoolExecutor(CHATS) as pool:
        answers = [a for chat_answers in pool.map(chat_run, range(CHATS)) for a in chat_answers]
    assert {status for status, _ in answers} == {201}
    total = CHATS * MESSAGES_PER_CHAT
    wait_until(lambda: Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage",
                                               status=Delivery.Status.DELIVERED).count() == total,
               timeout=120, interval=0.5, message="not every message was delivered")
    # let both beats sweep a few more times: nothing more may be sent
    time.sleep(6)

    # then: each call was accepted exactly once, never repeated after success
    sends = [r for r in fake_provider.requests if r.endpoint == "sendMessage"]
    accepted = fake_provider.accepted_list("sendMessage")
    assert len(accepted) == total and fake_provider.duplicates == 0
    assert len(sends) == total + FAILURES
    # and in order within each chat, each with the request id of its API call
    for chat in range(CHATS):
        texts = [r.json["text"] for r in accepted if r.json["chatId"] == f"chat-{chat}"]
        assert texts == [f"c{chat}-m{n}" for n in range(MESSAGES_PER_CHAT)]
    assert all(r.headers["x-request-id"] == "scale-" + r.json["text"][1:].replace("-m", "-") for r in accepted)
    # and the activation calls, dispatched to another broker than the cluster's, were swept and sent once
    assert {r.endpoint for r in fake_provider.accepted_list()} >= {"getChannels", "setWebhook"}
    assert not Delivery.objects.filter(tenant_id=tenant_id).exclude(status=Delivery.Status.DELIVERED).exists()

    # the three workers shared the work and their metrics add up to the delivered rows
    # (the activation calls may also be taken by the suite's in-process worker, which consumes the test
    # process's own broker: the cluster delivered at least every message and at most every delivered row)
    delivered = sum(_delivered_total(port) for port in worker_ports)
    assert total <= delivered <= Delivery.objects.filter(status=Delivery.Status.DELIVERED).count()
    busy = [port for port in worker_ports if _delivered_total(port) > 0]
    assert len(busy) >= 2, "the work was not shared between the workers"

    # one beat sent, the other stood by; every process kept its heartbeat
    beat_logs = [logs["beat0"].read_text(), logs["beat1"].read_text()]
    assert sorted("active" in text and "standby" not in text for text in beat_logs) == [False, True], beat_logs
    for directory, name in [(f"hb-worker{i}", "worker") for i in range(3)] + [(f"hb-beat{i}", "beat") for i in range(2)]:
        monkeypatch.setenv("HEARTBEAT_DIR", str(tmp_path / directory))
        assert heartbeat_check([name, "30"]) == 0, directory

    # when the active beat dies, the standby takes over within the lease
    active = 0 if "active" in beat_logs[0] and "standby" not in beat_logs[0] else 1
    stop(processes[f"beat{active}"])
    standby_log = logs[f"beat{1 - active}"]
    wait_until(lambda: re.search(r": active\n", standby_log.read_text()), timeout=30,
               message="the standby beat did not take over")
