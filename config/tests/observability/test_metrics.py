"""/metrics (issue 20): access, the metric families, real deliveries, several gunicorn workers."""

import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from communications.models import Delivery
from config.observability import beat
from config.tests.observability.helpers import PYTHON, ROOT, child_env, free_port, port_open, stop, wait_until

BASE = "/internal/v1/operator"


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of an exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


# --- access --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_metrics_are_served_to_an_allowed_network(client, settings):
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert "sbercrm_deliveries_pending" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("allowed, address", [(["10.0.0.0/8"], "192.168.1.5"), (["10.0.0.0/8"], "127.0.0.1"),
                                              ([], "10.1.2.3")])
def test_metrics_are_refused_outside_the_allowed_networks(client, settings, allowed, address):
    settings.INTERNAL_API_ALLOWED_NETWORKS = allowed  # empty: loopback only
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "network_not_allowed"
    assert "sbercrm_" not in response.content.decode()


@pytest.mark.django_db
def test_metrics_need_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_BEARER_TOKEN = "scrape-secret-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123").status_code == 200


# --- families ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_http_requests_are_counted_by_route_method_and_status(client):
    before = client.get("/metrics").content.decode()
    client.get("/healthz/live")
    client.get("/internal/v1/operator/chats/abc/messages")  # unauthenticated: 401 under its route pattern
    client.get("/no/such/page")
    after = client.get("/metrics").content.decode()
    route = "/internal/v1/operator/chats/<str:chat_id>/messages"

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("sbercrm_http_requests_total", route="/healthz/live", method="GET", status="200") == 1
    assert delta("sbercrm_http_requests_total", route=route, method="GET", status="401") == 1
    assert delta("sbercrm_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    assert delta("sbercrm_http_request_duration_seconds_count", route="/healthz/live", method="GET") == 1


@pytest.mark.django_db
def test_backlog_gauges_count_pending_and_dead_per_kind_with_the_oldest_age(client, settings):
    from config.tests.world import world_create

    world = world_create()
    old = world["delivery"]
    Delivery.objects.filter(pk=old.pk).update(status=Delivery.Status.PENDING,
                                              created_at=old.created_at.replace(year=2020))
    text = client.get("/metrics").content.decode()
    assert value(text, "sbercrm_deliveries_pending", kind="provider") >= 1
    assert value(text, "sbercrm_deliveries_oldest_pending_age_seconds", kind="provider") > 3 * 365 * 86400
    assert ("sbercrm_deliveries_dead", frozenset({("kind", "webhook")})) in samples(text)


@pytest.mark.django_db
def test_beat_sweeper_last_success_is_exposed(client, settings, shared_cache):
    settings.CELERY_BEAT_SCHEDULE = {"s": {"task": "communications.deliveries_sweep", "schedule": 30.0}}
    beat.sweeper_success_record("communications.deliveries_sweep", when=1_700_000_000)
    text = client.get("/metrics").content.decode()
    assert value(text, "sbercrm_beat_sweeper_last_success_timestamp_seconds",
                 task="communications.deliveries_sweep") == 1_700_000_000
    assert value(text, "sbercrm_beat_sweeper_stale", task="communications.deliveries_sweep") == 1


# --- real deliveries through a real worker ---------------------------------------------------------

@pytest.mark.integration
def test_metrics_reflect_real_deliveries_attempts_and_tasks(transactional_db, celery_worker, fast, fake_provider,
                                                            crm_client, client):
    from communications.tests.factories import chat_make, provider_setup, tenant_install

    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    fake_provider.wait_for(lambda: fake_provider.accepted_list("getChannels"))
    chat_make(tenant_id, provider, "chat-1")
    before = client.get("/metrics").content.decode()
    # when: one message, whose first attempt fails with 503
    fake_provider.fail_endpoint("sendMessage", count=1, status=503)
    crm_client.post(f"{BASE}/chats/chat-1/messages",
                    {"tenantId": str(tenant_id), "providerCode": provider.code, "text": "Метрики"})
    wait_until(lambda: Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage",
                                               status=Delivery.Status.DELIVERED).exists(), timeout=30)
    wait_until(lambda: value(client.get("/metrics").content.decode(), "sbercrm_delivery_attempts_total",
                             provider=provider.code, outcome="delivered") >= 1, timeout=10)
    # the feed's drainer is counted when it ends (once the list stays empty for DELIVERY_FEED_LINGER)
    wait_until(lambda: value(client.get("/metrics").content.decode(), "sbercrm_celery_tasks_total",
                             task="communications.delivery_feed_drain", state="SUCCESS")
               > value(before, "sbercrm_celery_tasks_total", task="communications.delivery_feed_drain",
                       state="SUCCESS"), timeout=10)
    after = client.get("/metrics").content.decode()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # then
    assert delta("sbercrm_deliveries_total", kind="provider", outcome="retry") == 1
    assert delta("sbercrm_deliveries_total", kind="provider", outcome="delivered") >= 1
    assert delta("sbercrm_delivery_attempts_total", provider=provider.code, outcome="retry") == 1
    assert delta("sbercrm_delivery_attempts_total", provider=provider.code, outcome="delivered") >= 1
    assert delta("sbercrm_delivery_attempt_duration_seconds_count", provider=provider.code) >= 2
    # the first attempt by a drainer of the feed, the retry (a countdown) by a task of its own
    for task in ("communications.delivery_feed_drain", "communications.delivery_send"):
        assert delta("sbercrm_celery_tasks_total", task=task, state="SUCCESS") >= 1
        assert delta("sbercrm_celery_task_duration_seconds_count", task=task) >= 1
    assert value(after, "sbercrm_deliveries_pending", kind="provider") == 0


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
# --- several gunicorn workers (multiprocess mode) ------------------------------------------------

@pytest.mark.postgres  # the gunicorn processes share the test database
def test_metrics_add_up_the_requests_of_every_gunicorn_worker(transactional_db, tmp_path):
    from django.conf import settings

    port = free_port()
    metrics_dir = tmp_path / "prom"
    (metrics_dir).mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    env = child_env(DATABASE_URL=_db_url(settings), PROMETHEUS_MULTIPROC_DIR=metrics_dir, HEARTBEAT_DIR="off")
    web = subprocess.Popen([PYTHON, "-m", "gunicorn", "--workers", "3", "--bind", f"127.0.0.1:{port}",
                            "config.wsgi:application"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: port_open(port), timeout=60, message="gunicorn did not start")

        def live(_):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/live") as response:
                return response.status

        with ThreadPoolExecutor(6) as pool:  # concurrent, so the sync workers share them
            assert set(pool.map(live, range(60))) == {200}
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        pids = {f.name.split("_")[-1] for f in metrics_dir.glob("counter_*.db")}
    finally:
        stop(web)
    # then: the counters of all workers add up, and the stale file of an earlier run was wiped
    assert value(text, "sbercrm_http_requests_total", route="/healthz/live", method="GET", status="200") == 60
    assert len(pids) >= 2, f"requests were served by one worker only: {pids}"
    assert "999999" not in "".join(pids)


def _db_url(settings) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# --- notifications and bots --------------------------------------------------------------------

def counter(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_notifications_are_counted_by_channel_and_outcome(fakes, make_recipient, send):
    sent, failed = (counter("sbercrm_notifications_total", channel="email", outcome="sent"),
                    counter("sbercrm_notifications_total", channel="telegram", outcome="failed"))
    recipient = make_recipient("user", email="ivan@example.com")
    body = {"user_id": str(recipient.pk), "subject": "Отчёт", "type": "notification", "message": "Готово"}
    assert send({**body, "service": "email"}).status_code == 200
    assert send({**body, "service": "telegram"}).status_code == 404  # not linked
    assert counter("sbercrm_notifications_total", channel="email", outcome="sent") == sent + 1
    assert counter("sbercrm_notifications_total", channel="telegram", outcome="failed") == failed + 1


def test_bot_updates_handled_by_the_polling_bot_are_counted_and_it_beats(tg, db, tmp_path, monkeypatch):
    from django.core.management import call_command

    from bots.tests.builders import tg_message
    from config.observability.heartbeat import heartbeat_age

    monkeypatch.setenv("HEARTBEAT_DIR", str(tmp_path))
    handled = counter("sbercrm_bot_updates_total", bot="telegram", outcome="handled")
    tg.push_update(tg_message(91, "/start"))
    call_command("run_telegram_bot", timeout=1, max_seconds=1.5)
    assert counter("sbercrm_bot_updates_total", bot="telegram", outcome="handled") == handled + 1
    assert heartbeat_age("telegram-bot") < 30


# --- dashboard and alerts -------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_dashboard_and_the_alerts_use_only_metrics_that_exist(client):
    import json
    import re

    exposed = client.get("/metrics").content.decode()
    families = set(re.findall(r"^# TYPE (\w+) ", exposed, flags=re.MULTILINE))
    dashboard = json.loads((ROOT / "docs/monitoring/grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    expressions.append((ROOT / "docs/monitoring/alerts.yml").read_text())
    used = {re.sub(r"_(bucket|count|sum|total)$", "", name)
            for expr in expressions for name in re.findall(r"sbercrm_\w+", expr)}
    assert used and used <= {re.sub(r"_total$", "", f) for f in families}, used - families
