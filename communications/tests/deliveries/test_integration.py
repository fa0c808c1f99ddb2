"""End to end with a real Celery worker consuming from Redis, PostgreSQL and the fake provider."""

import subprocess
import sys
import uuid

import pytest
from django.db import transaction

from communications.models import Delivery, DeliveryAttempt
from communications.services import deliveries as svc
from communications.tests.factories import all_final, make_tenant_configuration
from config.testing.processes import ROOT, subprocess_env, wait_until, worker_killed_mid_call
from delivery import engine

pytestmark = [pytest.mark.integration]


def test_provider_down_then_back_gets_every_call_once_in_chat_order(transactional_db, celery_worker, fast_retries,
                                                                    fake_provider):
    # given: the provider is down; calls about three chats are made, each chat a message then edits
    tc = make_tenant_configuration(fake_provider)
    fake_provider.go_away()
    created = []
    for n in range(4):
        for chat in ("chat-a", "chat-b", "chat-c"):
            with transaction.atomic():
                created.append(svc.delivery_enqueue(
                    tenant_configuration=tc, endpoint="sendMessage" if n == 0 else "updateMessageContent",
                    payload={"chat": chat, "n": n}, ordering_key=chat))
    ids = [d.pk for d in created]
    # when: the first calls of each chat fail for a while, then the provider comes back
    wait_until(lambda: DeliveryAttempt.objects.filter(delivery_id__in=ids, outcome="retry").count() >= 6)
    assert not Delivery.objects.filter(pk__in=ids, status=Delivery.Status.DELIVERED).exists()
    fake_provider.come_back()
    wait_until(lambda: all_final(ids), timeout=60)
    # then: each call was accepted exactly once, in creation order per chat
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert set(fake_provider.accepted) == {str(d.idempotency_key) for d in created}
    assert fake_provider.duplicates == 0
    for chat in ("chat-a", "chat-b", "chat-c"):
        order = [r.json["n"] for r in fake_provider.accepted_list() if r.json["chat"] == chat]
        assert order == [0, 1, 2, 3], (chat, order)
    assert Delivery.objects.filter(pk__in=ids, endpoint="sendMessage").exclude(provider_message_id="").count() == 3


def test_client_error_is_refused_and_visible_with_a_real_worker(transactional_db, celery_worker, fast_retries,
                                                             fake_provider, admin_client):
    tc = make_tenant_configuration(fake_provider)
    fake_provider.fail_next(1, status=404, body={"error": "no such chat"})
    with transaction.atomic():
        delivery = svc.delivery_enqueue(tenant_configuration=tc, endpoint="markChatRead", payload={"chatId": "x"})
    wait_until(lambda: all_final([delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.REFUSED and len(fake_provider.requests) == 1
    page = admin_client.get("/admin/communications/delivery/?status__exact=refused").content.decode()
    assert f"#{delivery.pk}" in page or f"/delivery/{delivery.pk}/" in page
    detail = admin_client.get(f"/admin/communications/delivery/{delivery.pk}/change/").content.decode()
    assert "no such chat" in detail and "404" in detail


def test_a_failed_dispatch_is_taken_by_the_next_sweep_without_waiting_for_the_grace(
        transactional_db, celery_worker, fast_retries, fake_provider):
    # Issue 23 item 1: committed while the broker was down -> sent one sweep after it returns.
    fast_retries.DELIVERY_SWEEP_GRACE = 3600
    tc = make_tenant_configuration(fake_provider)
    script = (
        "import django; django.setup()\n"
        "from django.db import transaction\n"
        "from communications.models import TenantConfiguration\n"
        "from communications.services.deliveries import delivery_enqueue\n"
        "with transaction.atomic():\n"
        f"    d = delivery_enqueue(tenant_configuration=TenantConfiguration.objects.get(pk={tc.pk}),\n"
        "                         endpoint='sendMessage', payload={'text': 'during the outage'})\n"
        "print(d.pk)\n"
    )
    env = subprocess_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0", REDIS_URL="", DELIVERY_SWEEP_GRACE="3600")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    pk = int(result.stdout.split()[-1])
    assert engine.deliveries_sweep() == 1  # the broker is back: the first sweep takes it
    wait_until(lambda: all_final([pk]), timeout=30)
    assert Delivery.objects.get(pk=pk).status == Delivery.Status.DELIVERED


def test_delivery_written_while_broker_unreachable_is_sent_by_the_sweeper(transactional_db, celery_worker,
                                                                          fast_retries, fake_provider):
    # given: a process whose broker is a closed port writes a delivery
    tc = make_tenant_configuration(fake_provider)
    script = (
        "import time, django; django.setup()\n"
        "from django.db import transaction\n"
        "from communications.models import TenantConfiguration\n"
        "from communications.services.deliveries import delivery_enqueue\n"
        "started = time.monotonic()\n"
        "with transaction.atomic():\n"
        f"    d = delivery_enqueue(tenant_configuration=TenantConfiguration.objects.get(pk={tc.pk}),\n"
        "                         endpoint='sendMessage', payload={'text': 'written while Redis was down'})\n"
        "print(d.pk, round(time.monotonic() - started, 2))\n"
    )
    env = subprocess_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0", REDIS_URL="")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    # then: the commit succeeded, the failed dispatch was logged, nothing was sent
    assert result.returncode == 0, result.stderr
    pk, elapsed = result.stdout.split()
    assert float(elapsed) < 3, f"the commit waited {elapsed}s for the broker"
    assert "dispatch to the broker failed" in result.stderr
    delivery = Delivery.objects.get(pk=int(pk))
    assert delivery.status == Delivery.Status.PENDING and fake_provider.requests == []
    # when: the sweeper runs (as beat would) on the real broker
    from communications.tasks import deliveries_sweep_task
    deliveries_sweep_task.delay()
    # then
    wait_until(lambda: all_final([delivery.pk]), timeout=30)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert [r.json for r in fake_provider.accepted_list()] == [{"text": "written while Redis was down"}]


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
def test_worker_killed_in_the_middle_of_a_call_still_leads_to_delivery(transactional_db, settings, fast_retries,
                                                                       fake_provider, tmp_path):
    # given: a worker subprocess on its own queue; the provider hangs on the first call
    queue = f"deliveries-kill-{uuid.uuid4().hex[:8]}"
    settings.DELIVERY_QUEUE = queue
    env = subprocess_env(DELIVERY_QUEUE=queue, CELERY_VISIBILITY_TIMEOUT="4", PROVIDER_CONNECT_TIMEOUT="1",
                         PROVIDER_READ_TIMEOUT="3", DELIVERY_LEASE_MARGIN="1", DELIVERY_SWEEP_GRACE="0")
    tc = make_tenant_configuration(fake_provider)
    fake_provider.stall_next(20)
    with transaction.atomic():
        delivery = svc.delivery_enqueue(tenant_configuration=tc, endpoint="sendMessage", payload={"text": "x"})

    def still_in_progress():
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.IN_PROGRESS

    # when: the worker is killed mid-call, and a new worker starts
    with worker_killed_mid_call(env, queue, tmp_path, in_flight=lambda: len(fake_provider.requests) == 1,
                                on_kill=still_in_progress):
        # then: once the lease runs out, redelivery (visibility timeout) or the sweeper sends it again
        wait_until(lambda: all_final([delivery.pk]), timeout=90, interval=1,
                   on_tick=lambda: engine.deliveries_sweep())
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert list(delivery.attempt_log.order_by("id").values_list("outcome", flat=True)) == ["interrupted", "success"]
    assert len(fake_provider.accepted) == 1 and len(fake_provider.requests) == 2
