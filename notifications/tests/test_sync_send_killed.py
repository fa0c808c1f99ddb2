"""A synchronous `/notifications/send` whose web process dies after its commit and before the call
(docs/notifications.md, "A synchronous send whose process died"): the row not yet sent is sent in the
background by the sweeper, exactly once, and a replay of the Idempotency-Key gets that result.

Production gunicorn serves the request. To stop it at exactly that point, a trigger on the delivery table
(test-only, dropped after) holds the statement that claims the synchronous row for its first attempt; the worker
process is SIGKILLed while PostgreSQL holds it, so the claim is rolled back with the dead connection.
"""

import os
import signal
import threading

import pytest
import requests
from django.db import connection

from communications.models import Delivery
from config.testing.processes import descendants, wait_until
from config.tests.reliability.servers import run_gunicorn
from delivery.engine import deliveries_sweep
from notifications.models import Notification

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # real processes; `make test-fast` leaves it out

HOLD_CLAIM = """
CREATE FUNCTION test_hold_sync_claim() RETURNS trigger AS $$
BEGIN
    IF NEW.synchronous AND NEW.status = 'in_progress' THEN PERFORM pg_sleep(3); END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_hold_sync_claim BEFORE INSERT OR UPDATE ON communications_delivery
    FOR EACH ROW EXECUTE FUNCTION test_hold_sync_claim();
"""
RELEASE_CLAIM = """
DROP TRIGGER IF EXISTS test_hold_sync_claim ON communications_delivery;
DROP FUNCTION IF EXISTS test_hold_sync_claim();
"""


def _sleeping_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event = 'PgSleep'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_sync_send_whose_process_died_before_the_call_is_sent_in_the_background(
        fakes, make_recipient, notifications_service_client, send, celery_worker, settings, tmp_path):
    recipient = make_recipient("user", telegram=True)
    body = {"user_id": str(recipient.pk), "service": "telegram", "type": "notification", "subject": "Сделка",
            "message": "Сделка перешла на этап «Согласование»."}
    headers = {"Idempotency-Key": "killed-web-1",
               "Authorization": notifications_service_client._credentials["HTTP_AUTHORIZATION"]}
    answers = []
    with connection.cursor() as cursor:
        cursor.execute(HOLD_CLAIM)
    try:
        with run_gunicorn(tmp_path, REDIS_URL="", TELEGRAM_BOT_TOKEN=settings.TELEGRAM_BOT_TOKEN,
                          TELEGRAM_API_BASE_URL=settings.TELEGRAM_API_BASE_URL) as web:
            def post():
                try:
                    answers.append(requests.post(f"http://127.0.0.1:{web.port}/notifications/send", json=body,
                                                 headers=headers, timeout=30).status_code)
                except requests.RequestException as exc:
                    answers.append(type(exc).__name__)

            client = threading.Thread(target=post)
            client.start()
            # when the request has committed its rows and its first attempt is being claimed
            wait_until(lambda: _sleeping_backends() == 1, timeout=30, interval=0.05)
            assert Notification.objects.filter(recipient=recipient).count() == 1  # committed
            for pid in descendants(web.process.pid):
                os.kill(pid, signal.SIGKILL)  # the gunicorn worker dies mid-request
            client.join(timeout=30)
            # the claim dies with its connection
            wait_until(lambda: _sleeping_backends() == 0, timeout=30, interval=0.1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(RELEASE_CLAIM)
    assert answers and answers[0] != 200  # the client never got an answer
    row = Notification.objects.get(recipient=recipient)
    delivery = Delivery.objects.get(pk=row.delivery_id)
    assert (row.status, delivery.status, delivery.attempts, delivery.synchronous) == ("pending", "pending", 0, True)
    assert fakes["telegram"].sent_messages() == []

    # then the sweeper, once that process is surely gone, has it sent in the background
    settings.DELIVERY_SWEEP_GRACE = 0
    settings.NOTIFICATIONS_SYNC_DEADLINE = 0
    wait_until(lambda: Notification.objects.get(pk=row.pk).status != "pending", timeout=60, interval=0.2,
               on_tick=deliveries_sweep)
    row.refresh_from_db()
    assert row.status == "sent"
    assert len(fakes["telegram"].sent_messages()) == 1
    assert Delivery.objects.get(pk=row.delivery_id).attempts == 1

    # and a replay of the key gets the record's answer without sending again
    replay = send(body, headers={"Idempotency-Key": "killed-web-1"})
    assert (replay.status_code, replay.json()["status"]) == (200, "success")
    assert len(fakes["telegram"].sent_messages()) == 1
