"""Async mode through Redis and a real Celery worker."""

import time

import pytest

from config.testing.fake_telegram import FakeTelegram
from notifications.models import Notification


def wait_final(pk, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Notification.objects.get(pk=pk)
        if row.status != "pending":
            return row
        time.sleep(0.2)
    raise AssertionError(f"notification {pk} still pending after {timeout}s")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_async_send_honours_telegram_429_retry_after(celery_worker, fakes, make_recipient, send):
    # given Telegram answers 429 retry_after=2 to the first attempt
    recipient = make_recipient("admin", telegram=True)
    fakes["telegram"].fail_next("sendMessage", *FakeTelegram.too_many_requests(2))
    # when the caller asks for async delivery
    response = send({"user_id": str(recipient.pk), "service": "telegram", "subject": "Сбой", "type": "critical",
                     "message": "База недоступна"}, headers={"Prefer": "respond-async"})
    # then 202 at once, and the worker retries after the requested delay
    assert response.status_code == 202
    row = wait_final(response.json()["notification_id"])
    assert row.status == "sent" and row.attempts == 2 and row.http_status == 202
    first, second = fakes["telegram"].calls("sendMessage")
    assert second.at - first.at >= 2.0
    assert second.params["text"] == "Тема: Сбой | critical\nБаза недоступна"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_async_send_gives_up_after_max_attempts(celery_worker, fakes, make_recipient, send, settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    recipient = make_recipient("user", vk=True)
    fakes["vk"].fail_next("messages.send", 200, {"error": {"error_code": 10, "error_msg": "Internal"}}, times=10)
    response = send({"user_id": str(recipient.pk), "service": "vk", "subject": "s", "type": "notification",
                     "message": "m"}, headers={"Prefer": "respond-async"})
    row = wait_final(response.json()["notification_id"])
    assert row.status == "failed" and row.attempts == 2 and "VK 10" in row.last_error
