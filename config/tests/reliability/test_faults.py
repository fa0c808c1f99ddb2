"""Faults with a real Celery worker, Redis and the fake provider / fake Telegram: nothing is lost.

Reused, not duplicated (see the README table): worker SIGKILL mid-call
(communications/tests/deliveries/test_integration.py), 50 concurrent first messages
(communications/tests/public_api/test_concurrency.py), concurrent configuration uploads
(communications/tests/lifecycle/test_concurrency.py).
"""

import re
import subprocess
import sys
from collections import Counter

import pytest
from django.db import transaction

from communications.models import Delivery, DeliveryAttempt
from communications.services import deliveries as svc
from communications.tests.factories import all_final, make_tenant_configuration
from config.testing.fake_telegram import FakeTelegram
from config.testing.processes import ROOT, start_worker_process, subprocess_env, wait_until

from .servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # real workers and beat, long scenarios
CHATS, PER_CHAT = 10, 30


def test_provider_outage_with_300_deliveries_each_arrives_once_in_chat_order(transactional_db, celery_worker,
                                                                             fast_retries, fake_provider):
    # given: the provider is down while 300 calls about 10 chats are committed
    fast_retries.DELIVERY_RETRY_SCHEDULE = [0.5] * 9
    tc = make_tenant_configuration(fake_provider)
    fake_provider.go_away()
    created = []
    for n in range(PER_CHAT):
        with transaction.atomic():
            for chat in range(CHATS):
                created.append(svc.delivery_enqueue(
                    tenant_configuration=tc, endpoint="sendMessage" if n == 0 else "updateMessageContent",
                    payload={"chat": chat, "n": n}, ordering_key=f"chat-{chat}"))
    ids = [d.pk for d in created]
    # when: the heads of the chats fail for a while, then the provider comes back
    wait_until(lambda: DeliveryAttempt.objects.filter(delivery_id__in=ids, outcome="retry").count() >= CHATS)
    assert not Delivery.objects.filter(pk__in=ids, status=Delivery.Status.DELIVERED).exists()
    fake_provider.come_back()
    wait_until(lambda: all_final(ids), timeout=240, interval=0.5)
    # then: all 300 delivered, each accepted exactly once (idempotency key), in order per chat
    assert Counter(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Delivery.Status.DELIVERED: CHATS * PER_CHAT}
    assert sorted(fake_provider.accepted) == sorted(str(d.idempotency_key) for d in created)
    assert len(fake_provider.accepted_list()) == CHATS * PER_CHAT
    for chat in range(CHATS):
        order = [r.json["n"] for r in fake_provider.accepted_list() if r.json["chat"] == chat]
        assert order == list(range(PER_CHAT)), (chat, order)


# --- Redis down ---------------------------------------------------------------------------------------

COMMITTER = """
import sys, time, django
django.setup()
from django.db import transaction
from communications.models import TenantConfiguration
from communications.services.deliveries import delivery_enqueue
from config.management.commands.create_service_account import service_account_ensure
from notifications.services import notification_send
tc = TenantConfiguration.objects.get(pk=int(sys.argv[1]))
recipients, count = sys.argv[3].split(","), int(sys.argv[2])
service = service_account_ensure(username="svc-notifications", role="notifications")
for n in range(count):
    with transaction.atomic():
        delivery_enqueue(tenant_configuration=tc, endpoint="sendMessage", payload={"n": n}, ordering_key="chat")
    notification_send(requested_by=service, user_id=recipients[n % len(recipients)], service="telegram",
                      subject="Сбой", type="notification", message=f"n={n}", is_async=True)
    print(n, flush=True)
    time.sleep(0.05)
"""

SWEEPER = """
import django
django.setup()
from delivery.engine import deliveries_sweep
print(deliveries_sweep())  # one sweeper for provider calls and notification sends
"""


def test_redis_down_while_committing_then_the_sweepers_deliver_everything(transactional_db, fake_provider, tmp_path,
                                                                          make_recipient_with_telegram):
    from notifications.models import Notification

    # given: a private Redis as broker, a worker on it, the fake provider and a fake Telegram
    broker = PrivateRedis(tmp_path)
    broker.start()
    tc = make_tenant_configuration(fake_provider)
    count = 40
    with FakeTelegram() as telegram:
        recipients = [str(make_recipient_with_telegram(chat)) for chat in range(4000, 4010)]
        queue = "celery"  # the private broker holds only this test's tasks (deliveries and notifications)
        env = subprocess_env(CELERY_BROKER_URL=broker.url, REDIS_URL="", DELIVERY_QUEUE=queue,
                             DELIVERY_RETRY_SCHEDULE=",".join(["0.5"] * 9),
                             DELIVERY_RETRY_JITTER="0", DELIVERY_SWEEP_GRACE="0",
                             TELEGRAM_BOT_TOKEN="123456:FAULTS", TELEGRAM_API_BASE_URL=telegram.url,
                             TELEGRAM_RATE_LIMIT_PER_CHAT="100")
        worker = start_worker_process(env, queue, tmp_path / "worker.log")
        log = tmp_path / "committer.log"  # a file, not a pipe: a full pipe would block the committer
        with open(log, "w") as out:
            committer = subprocess.Popen([sys.executable, "-c", COMMITTER, str(tc.pk), str(count),
                                          ",".join(recipients)], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            # when: Redis stops after the first ten commits and comes back after twenty more
            wait_until(lambda: Delivery.objects.filter(tenant_configuration=tc).count() >= 10, timeout=60)
            broker.stop()
            wait_until(lambda: Delivery.objects.filter(tenant_configuration=tc).count() >= 30, timeout=120)
            broker.start()
            committer.wait(timeout=180)
            output = log.read_text()
            assert committer.returncode == 0, output[-3000:]
            # the outage really hit both kinds of commit
            failed = {int(pk) for pk in re.findall(r"delivery (\d+): dispatch to the broker failed", output)}
            kinds = set(Delivery.objects.filter(pk__in=failed).values_list("kind", flat=True))
            assert kinds == {Delivery.Kind.PROVIDER, Delivery.Kind.NOTIFICATION}, kinds
            # then: the sweepers (as beat runs them) hand the stranded rows to the worker; all arrive
            deliveries = list(Delivery.objects.filter(tenant_configuration=tc).values_list("pk", flat=True))
            notifications = Notification.objects.filter(recipient_id__in=recipients)

            def everything_final():
                subprocess.run([sys.executable, "-c", SWEEPER], cwd=ROOT, env=env, capture_output=True, timeout=60)
                return all_final(deliveries) and not notifications.filter(status="pending").exists()

            wait_until(everything_final, timeout=180, interval=1)
        finally:
            committer.kill()
            worker.terminate()
            worker.wait(timeout=20)
            if broker.process.poll() is None:
                broker.stop()
        assert len(deliveries) == count
        assert Counter(Delivery.objects.filter(pk__in=deliveries).values_list("status", flat=True)) == {
            Delivery.Status.DELIVERED: count}
        assert [r.json["n"] for r in fake_provider.accepted_list()] == list(range(count))  # once each, in order
        assert fake_provider.duplicates == 0
        assert Counter(notifications.values_list("status", flat=True)) == {"sent": count}
        texts = sorted(m["text"] for m in telegram.sent_messages())
        assert texts == sorted(f"Тема: Сбой | notification\nn={n}" for n in range(count))  # none lost, none twice


# --- Telegram limits -----------------------------------------------------------------------------------

def test_telegram_429_is_waited_out_and_the_shared_rate_limit_holds(transactional_db, celery_worker, settings,
                                                                    make_recipient_with_telegram):
    from config.management.commands.create_service_account import service_account_ensure
    from notifications.models import Notification
    from notifications.services import notification_send

    # given: a global limit of 5 messages per second, and Telegram asking to wait 2 s on the first call
    settings.TELEGRAM_RATE_LIMIT_GLOBAL = 5
    service = service_account_ensure(username="svc-notifications", role="notifications")
    with FakeTelegram() as telegram:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL = "123456:LIMITS", telegram.url
        telegram.fail_next("sendMessage", *FakeTelegram.too_many_requests(2))
        recipients = [make_recipient_with_telegram(chat) for chat in range(5000, 5020)]
        # when: 20 notifications to 20 chats are sent asynchronously at once
        ids = []
        for n, recipient in enumerate(recipients):
            with transaction.atomic():
                ids.append(notification_send(requested_by=service, user_id=recipient, service="telegram",
                                             subject="Лимит", type="notification", message=f"n={n}",
                                             is_async=True).pk)
        wait_until(lambda: not Notification.objects.filter(pk__in=ids, status="pending").exists(), timeout=120)
        calls = telegram.calls("sendMessage")
    # then: every one sent, exactly once
    assert Counter(Notification.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent": 20}
    delivered = calls[1:]  # the first call got the 429
    assert sorted(c.params["text"] for c in delivered) == sorted(f"Тема: Лимит | notification\nn={n}"
                                                                  for n in range(20))
    # the 429'd message came again only after the requested 2 s
    first = calls[0]
    again = [c for c in calls[1:] if c.params["chat_id"] == first.params["chat_id"]]
    assert len(again) == 1 and again[0].at - first.at >= 2.0
    # and the shared limit paced the others: 19 messages at 5/s need at least 4 one-second windows, so
    # they are spread over more than 2 s (unlimited, they all arrive within a fraction of a second).
    # The limiter counts when a worker takes a slot, not when the message reaches Telegram, so a
    # calendar second at the fake may see a few messages of the neighbouring window (loaded machine).
    others = [c.at for c in delivered if c.params["chat_id"] != first.params["chat_id"]]
    assert max(others) - min(others) > 2.0, others
    per_second = Counter(int(c.at) for c in calls)
    assert max(per_second.values()) <= 2 * 5, per_second
