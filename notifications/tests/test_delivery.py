"""Delivery semantics: idempotency, permanent vs transient errors, async mode, history rows."""

import uuid

import pytest

from config.testing.fake_telegram import FakeTelegram
from config.testing.fake_vk import FakeVK
from notifications.models import Device, Notification, PushHistory, ServiceBinding
from notifications.transports.vk import vk_random_id


def body(recipient, service="telegram", **extra):
    return {"user_id": str(recipient.pk), "service": service, "subject": "Дедлайн", "type": "notification",
            "message": "Завтра", **extra}


def test_same_idempotency_key_returns_same_answer_and_sends_once(fakes, make_recipient, send):
    # given
    recipient = make_recipient("user", telegram=True)
    headers = {"Idempotency-Key": "order-42-reminder"}
    # when the client retries the same request
    first = send(body(recipient), headers=headers)
    second = send(body(recipient), headers=headers)
    # then
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first["Notification-Id"] == second["Notification-Id"]
    assert len(fakes["telegram"].sent_messages()) == 1
    assert Notification.objects.count() == 1


def test_same_key_after_a_refusal_tries_again_on_the_same_row(fakes, make_recipient, send):
    # Issue 15: a 500 is not the key's stored answer; the same key tries again (the refusal repeats here).
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].fail_next("sendMessage", *FakeTelegram.error(400, "Bad Request: can't parse entities"),
                                times=2)
    headers = {"Idempotency-Key": "k-500"}
    first = send(body(recipient), headers=headers)
    calls = len(fakes["telegram"].calls("sendMessage"))
    again = send(body(recipient), headers=headers)
    assert first.status_code == again.status_code == 500
    assert first["Notification-Id"] == again["Notification-Id"]
    assert len(fakes["telegram"].calls("sendMessage")) == calls + 1
    assert Notification.objects.count() == 1


def test_idempotency_key_with_a_different_body_is_rejected(fakes, make_recipient, send):
    recipient = make_recipient("user", telegram=True)
    send(body(recipient), headers={"Idempotency-Key": "k1"})
    response = send(body(recipient, message="другое"), headers={"Idempotency-Key": "k1"})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert len(fakes["telegram"].sent_messages()) == 1


def test_idempotency_keys_are_scoped_per_caller(fakes, make_recipient, send):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from config.management.commands.create_service_account import service_account_ensure

    recipient = make_recipient("user", email=None)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(service_account_ensure(username='svc-2', role='notifications'))}")
    send(body(recipient, service="email"), headers={"Idempotency-Key": "shared"})
    other.post("/notifications/send", body(recipient, service="email"), format="json",
               headers={"Idempotency-Key": "shared"})
    assert len(fakes["smtp"].messages) == 2


@pytest.mark.parametrize("description,code", [
    ("Forbidden: bot was blocked by the user", 403),
    ("Bad Request: chat not found", 400),
])
def test_telegram_permanent_error_deactivates_binding(fakes, make_recipient, send, description, code):
    # given
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].fail_next("sendMessage", *FakeTelegram.error(code, description), times=5)
    # when
    response = send(body(recipient))
    # then: one attempt, no retry, binding off, history keeps the error
    assert response.status_code == 500
    assert len(fakes["telegram"].calls("sendMessage")) == 1
    binding = ServiceBinding.objects.get(recipient=recipient)
    assert binding.is_active is False and description in binding.deactivated_reason
    row = Notification.objects.get(recipient=recipient)
    assert row.status == "failed" and description in row.last_error
    # and the next send answers "not linked"
    assert send(body(recipient)).status_code == 404


def test_blocked_chat_on_the_fake_server_deactivates_binding(fakes, make_recipient, send):
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].blocked_chats.add(recipient.bindings.get().service_user_id)
    assert send(body(recipient)).status_code == 500
    assert not ServiceBinding.objects.get(recipient=recipient).is_active


@pytest.mark.parametrize("code", [900, 901, 902])
def test_vk_permanent_error_deactivates_binding(fakes, make_recipient, send, code):
    recipient = make_recipient("user", vk=True)
    fakes["vk"].fail_next("messages.send", *FakeVK.error(code, "Can't send"), times=5)
    assert send(body(recipient, service="vk")).status_code == 500
    assert len(fakes["vk"].calls("messages.send")) == 1
    assert not ServiceBinding.objects.get(recipient=recipient).is_active


def test_vk_other_error_fails_without_deactivating(fakes, make_recipient, send):
    recipient = make_recipient("user", vk=True)
    fakes["vk"].fail_next("messages.send", *FakeVK.error(100, "One of the parameters specified was missing"))
    assert send(body(recipient, service="vk")).status_code == 500
    assert ServiceBinding.objects.get(recipient=recipient).is_active


def test_vk_retry_reuses_random_id_so_nothing_is_duplicated(fakes, make_recipient, send):
    # given flood control on the first call
    recipient = make_recipient("user", vk=True)
    fakes["vk"].fail_next("messages.send", *FakeVK.error(9, "Flood control"))
    # when
    response = send(body(recipient, service="vk"))
    # then: retried within the sync deadline with the same random_id
    assert response.status_code == 200
    calls = fakes["vk"].sent_messages()
    assert len(calls) == 2 and calls[0]["random_id"] == calls[1]["random_id"]
    row = Notification.objects.get(recipient=recipient)
    assert int(calls[0]["random_id"]) == vk_random_id(row.pk)
    assert len(fakes["vk"].delivered) == 1 and row.attempts == 2


def _send_after_telegram_429(fakes, make_recipient, send, retry_after: int, status_code: int) -> Notification:
    """A sync Telegram send whose first call gets 429 with `retry_after` seconds; its history row."""
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].fail_next("sendMessage", *FakeTelegram.too_many_requests(retry_after))
    assert send(body(recipient)).status_code == status_code
    return Notification.objects.get(recipient=recipient)


def test_sync_send_honours_a_short_telegram_429(fakes, make_recipient, send):
    row = _send_after_telegram_429(fakes, make_recipient, send, retry_after=1, status_code=200)
    assert row.attempts == 2 and row.status == "sent"
    first, second = fakes["telegram"].calls("sendMessage")
    assert second.at - first.at >= 0.9


def test_sync_send_gives_up_when_retry_after_exceeds_the_deadline(fakes, make_recipient, send):
    row = _send_after_telegram_429(fakes, make_recipient, send, retry_after=30, status_code=500)
    assert "429" in row.last_error and ServiceBinding.objects.get(recipient=row.recipient).is_active


def test_push_invalid_subscription_deactivates_only_that_device(fakes, make_recipient, send):
    # given two devices, one of them uninstalled
    recipient = make_recipient("user", devices=2)
    dead, alive = recipient.devices.order_by("device_id").values_list("device_id", flat=True)
    fakes["onesignal"].invalid_ids.add(dead)
    # when
    response = send(body(recipient, service="push"))
    # then
    assert response.status_code == 200
    assert not Device.objects.get(device_id=dead).is_active
    assert Device.objects.get(device_id=alive).is_active
    push = PushHistory.objects.get(recipient=recipient)
    assert push.device_ids == [alive] and push.title == "Дедлайн" and push.external_id
    assert (push.subject, push.type, push.message) == ("Дедлайн", "notification", "Завтра")
    # and the next push targets the remaining device only
    send(body(recipient, service="push"))
    assert fakes["onesignal"].calls("notifications")[-1].json["include_subscription_ids"] == [alive]


def test_push_with_all_subscriptions_invalid_fails_and_deactivates_them(fakes, make_recipient, send):
    recipient = make_recipient("user", devices=1)
    fakes["onesignal"].invalid_ids.add(recipient.devices.get().device_id)
    assert send(body(recipient, service="push")).status_code == 500
    assert not recipient.devices.get().is_active
    assert not PushHistory.objects.exists()


def test_push_sends_notification_id_as_onesignal_idempotency_key(fakes, make_recipient, send):
    recipient = make_recipient("admin", devices=1)
    response = send(body(recipient, service="push"))
    assert fakes["onesignal"].calls("notifications")[0].json["idempotency_key"] == response["Notification-Id"]


def test_async_mode_answers_202_and_delivers_through_celery(fakes, make_recipient, send,
                                                           django_capture_on_commit_callbacks):
    # given
    recipient = make_recipient("manager", telegram=True)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body(recipient, type="deadline"), headers={"Prefer": "respond-async"})
    # then
    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "accepted" and data["message"] == "Notification accepted for delivery."
    row = Notification.objects.get(pk=data["notification_id"])
    assert row.is_async and row.status == "sent" and row.http_status == 202
    assert fakes["telegram"].sent_messages()[0]["text"] == "Тема: Дедлайн | deadline\nЗавтра"


def test_async_mode_to_unlinked_user_still_answers_404(fakes, make_recipient, send):
    recipient = make_recipient("user")
    response = send(body(recipient), headers={"Prefer": "respond-async"})
    assert response.status_code == 404


def test_async_permanent_error_is_not_retried(fakes, make_recipient, send, django_capture_on_commit_callbacks):
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].blocked_chats.add(recipient.bindings.get().service_user_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body(recipient), headers={"Prefer": "respond-async"})
    assert response.status_code == 202
    row = Notification.objects.get(recipient=recipient)
    assert row.status == "failed" and row.attempts == 1
    assert len(fakes["telegram"].calls("sendMessage")) == 1


def test_sweeper_sends_an_async_row_whose_dispatch_was_lost(fakes, make_recipient, settings,
                                                            django_capture_on_commit_callbacks):
    from delivery import engine
    from notifications.services import notification_send

    settings.DELIVERY_SWEEP_GRACE = 0
    recipient = make_recipient("user", telegram=True)
    # queued, but the on-commit dispatch never ran (as if the broker had been down)
    stuck = notification_send(requested_by=None, user_id=recipient.pk, service="telegram", subject="s",
                              type="notification", message="m", is_async=True)
    assert stuck.status == "pending" and fakes["telegram"].sent_messages() == []
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.deliveries_sweep() == 1
    stuck.refresh_from_db()
    assert stuck.status == "sent" and stuck.http_status == 202 and len(fakes["telegram"].sent_messages()) == 1


def test_deliver_task_ignores_final_rows(fakes, make_recipient, send):
    from notifications.tasks import notification_deliver_task

    recipient = make_recipient("user", telegram=True)
    response = send(body(recipient))
    notification_deliver_task.delay(response["Notification-Id"])
    notification_deliver_task.delay(str(uuid.uuid4()))
    assert len(fakes["telegram"].sent_messages()) == 1
