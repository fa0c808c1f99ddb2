"""`notify` through Redis and a real Celery worker: fallback, status and the signed callback."""

import time

import pytest
from standardwebhooks.webhooks import Webhook

from config.testing.fake_http import Receiver
from notifications.models import NotifyRequest


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met after {timeout}s")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_notify_falls_back_and_calls_back_through_the_worker(celery_worker, fakes, make_recipient,
                                                             notifications_service_client):
    with Receiver() as receiver:
        secret = notifications_service_client.put(
            "/notifications/callback", {"callback_url": receiver.url + "/hook"}, format="json").json()["secret"]
        recipient = make_recipient("user", telegram=True, vk=True)
        fakes["telegram"].blocked_chats.add(recipient.bindings.get(service="telegram").service_user_id)
        # when
        response = notifications_service_client.post("/notifications/notify", {
            "user_id": str(recipient.pk), "type": "notification", "subject": "Отчёт", "message": "Готово",
            "idempotency_key": "int-1"}, format="json")
        # then
        assert response.status_code == 202
        notify_id = response.json()["notification_id"]
        wait_for(lambda: NotifyRequest.objects.get(pk=notify_id).status == "delivered")
        status = notifications_service_client.get(f"/notifications/{notify_id}").json()
        assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("telegram", "failed"), ("vk", "sent")]
        assert len(fakes["vk"].sent_messages()) == 1
        wait_for(lambda: receiver.requests)
        request = receiver.requests[0]
        event = Webhook(secret).verify(request.body, {k.lower(): v for k, v in request.headers.items()})
        assert event["type"] == "notification.delivered" and event["data"]["id"] == notify_id
        # a repeat with the same key is the same notification, nothing resent
        again = notifications_service_client.post("/notifications/notify", {
            "user_id": str(recipient.pk), "type": "notification", "subject": "Отчёт", "message": "Готово",
            "idempotency_key": "int-1"}, format="json")
        assert again.json()["notification_id"] == notify_id
        assert len(fakes["vk"].sent_messages()) == 1 and len(receiver.requests) == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_is_retried_on_its_channel_before_any_fallback(celery_worker, fakes, make_recipient,
                                                                           notifications_service_client, settings):
    # given Telegram is briefly unavailable (two 502s), then recovers
    settings.NOTIFICATIONS_RETRY_SCHEDULE = [0.3] * 7
    recipient = make_recipient("user", telegram=True, vk=True)
    fakes["telegram"].fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"},
                                times=2)
    # when
    response = notifications_service_client.post("/notifications/notify", {
        "user_id": str(recipient.pk), "type": "notification", "subject": "Отчёт", "message": "Готово"},
        format="json")
    # then the engine retried Telegram, which delivered; VK was never tried
    notify_id = response.json()["notification_id"]
    wait_for(lambda: NotifyRequest.objects.get(pk=notify_id).status != "pending")
    status = notifications_service_client.get(f"/notifications/{notify_id}").json()
    assert status["status"] == "delivered"
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("telegram", "sent")]
    assert len(fakes["telegram"].calls("sendMessage")) == 3 and fakes["vk"].sent_messages() == []
