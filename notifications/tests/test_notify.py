"""Issue 18: POST /notifications/notify — fallback, policies, preferences, quiet hours, status."""

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from notifications.models import NotificationPreference, NotifyRequest, QuietHours
from notifications.services.notify import notify_due

MSK = ZoneInfo("Europe/Moscow")


def status_of(client, response):
    return client.get(f"/notifications/{response.json()['notification_id']}").json()


def test_telegram_blocked_falls_back_to_vk_and_status_shows_both(fakes, make_recipient, notify,
                                                                   notifications_service_client):
    # given a user bound to Telegram and VK, who blocked the Telegram bot
    recipient = make_recipient("user", telegram=True, vk=True)
    chat_id = recipient.bindings.get(service="telegram").service_user_id
    fakes["telegram"].blocked_chats.add(chat_id)
    # when the service notifies them
    response = notify(recipient)
    # then 202 with an id, and the message went by VK
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and uuid.UUID(response.json()["notification_id"])
    assert [m["message"] for m in fakes["vk"].sent_messages()] == ["Тема: Отчёт | notification\nГотово"]
    status = status_of(notifications_service_client, response)
    assert status["status"] == "delivered" and status["policy"] == "first_success"
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("telegram", "failed"), ("vk", "sent")]
    assert "403" in status["attempts"][0]["error"] and status["attempts"][1]["error"] == ""
    assert all(a["time"] for a in status["attempts"])
    # push and email were not needed (first_success)
    assert fakes["onesignal"].requests == [] and fakes["smtp"].messages == []


def test_first_success_stops_at_the_first_delivered_channel(fakes, make_recipient, notify):
    recipient = make_recipient("user", telegram=True, vk=True)
    notify(recipient)
    assert len(fakes["telegram"].sent_messages()) == 1 and fakes["vk"].sent_messages() == []


def test_unavailable_channels_are_skipped_in_order(fakes, make_recipient, notify, notifications_service_client):
    recipient = make_recipient("user", devices=1)  # no Telegram, no VK
    status = status_of(notifications_service_client, notify(recipient))
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("push", "sent")]
    assert status["skipped"] == [{"channel": "telegram", "reason": "not_linked"},
                                 {"channel": "vk", "reason": "not_linked"}]


def test_muted_channel_is_skipped_by_notify_but_not_by_send(fakes, make_recipient, notify, send,
                                                            notifications_service_client):
    # given a user who muted Telegram for ordinary notifications
    recipient = make_recipient("user", telegram=True, vk=True)
    NotificationPreference.objects.create(recipient=recipient, type="notification", channel="telegram", enabled=False)
    # when notified: Telegram is skipped, VK gets it
    status = status_of(notifications_service_client, notify(recipient))
    assert fakes["telegram"].sent_messages() == []
    assert [a["channel"] for a in status["attempts"]] == ["vk"]
    assert {"channel": "telegram", "reason": "muted"} in status["skipped"]
    # when sent explicitly to Telegram: it goes
    response = send(user_id=recipient.pk, service="telegram", subject="s", type="notification", message="m")
    assert response.status_code == 200 and len(fakes["telegram"].sent_messages()) == 1


def test_policy_all_sends_every_available_channel(fakes, make_recipient, notify, notifications_service_client):
    recipient = make_recipient("admin", telegram=True, vk=True, devices=1)
    status = status_of(notifications_service_client, notify(recipient, type="critical"))
    assert status["policy"] == "all" and status["status"] == "delivered"
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [
        ("telegram", "sent"), ("vk", "sent"), ("push", "sent"), ("email", "sent")]


def test_nothing_deliverable_is_failed(fakes, make_recipient, notify, notifications_service_client):
    recipient = make_recipient("user", email="")
    status = status_of(notifications_service_client, notify(recipient))
    assert status["status"] == "failed" and status["attempts"] == []
    assert len(status["skipped"]) == 4


def test_idempotency_key_returns_the_same_notification_without_resending(fakes, make_recipient, notify):
    recipient = make_recipient("user", telegram=True)
    first = notify(recipient, idempotency_key="k-1")
    again = notify(recipient, idempotency_key="k-1")
    assert first.json()["notification_id"] == again.json()["notification_id"]
    assert len(fakes["telegram"].sent_messages()) == 1
    changed = notify(recipient, idempotency_key="k-1", message="другое")
    assert changed.status_code == 400 and "idempotency_key" in changed.json()["error"]["fields"]


@pytest.mark.parametrize("fields,field", [
    ({"user_id": 5}, "user_id"), ({"type": "spam"}, "type"), ({"message": " \n"}, "message"),
    ({"subject": 3}, "subject"), ({"type": "error"}, "type"),
])
def test_bad_notify_is_400_naming_the_field(fakes, make_recipient, notify, fields, field):
    recipient = make_recipient("user", telegram=True)
    response = notify(recipient, **fields)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not NotifyRequest.objects.exists()


def test_unknown_user_is_404(fakes, notify, make_recipient):
    ghost = make_recipient("user")
    ghost_id = ghost.pk
    ghost.delete()
    assert notify(ghost, user_id=str(ghost_id)).status_code == 404


def test_status_is_visible_only_to_the_sending_service(fakes, make_recipient, notify, marketplace_client):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from config.management.commands.create_service_account import service_account_ensure

    recipient = make_recipient("user", telegram=True)
    response = notify(recipient)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION="Bearer " + str(AccessToken.for_user(
        service_account_ensure(username="svc-notifications-2", role="notifications"))))
    path = f"/notifications/{response.json()['notification_id']}"
    assert other.get(path).status_code == 404
    assert marketplace_client.get(path).status_code == 403
    assert other.get(f"/notifications/{uuid.uuid4()}").status_code == 404


def test_status_of_a_plain_send(fakes, make_recipient, send, notifications_service_client):
    recipient = make_recipient("user")
    response = send(user_id=recipient.pk, service="email", subject="s", type="notification", message="m")
    status = notifications_service_client.get(f"/notifications/{response['Notification-Id']}").json()
    assert status["kind"] == "send" and status["status"] == "delivered"
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("email", "sent")]


# --- quiet hours (frozen clock) ----------------------------------------------------------

def quiet(recipient):
    QuietHours.objects.create(recipient=recipient, start=time(23, 0), end=time(8, 0), timezone="Europe/Moscow")


def test_quiet_hours_defer_until_0800_in_the_users_zone(fakes, make_recipient, notify,
                                                        notifications_service_client,
                                                        django_capture_on_commit_callbacks):
    recipient = make_recipient("user", telegram=True)
    quiet(recipient)
    with time_machine.travel(datetime(2026, 12, 1, 23, 30, tzinfo=MSK)):
        response = notify(recipient)
    assert response.status_code == 202 and response.json()["status"] == "deferred"
    expected = datetime(2026, 12, 2, 8, 0, tzinfo=MSK)
    assert datetime.fromisoformat(response.json()["deliver_after"].replace("Z", "+00:00")) == expected
    assert fakes["telegram"].sent_messages() == []
    # the periodic task does nothing before the window ends
    with time_machine.travel(datetime(2026, 12, 2, 7, 59, tzinfo=MSK)):
        assert notify_due() == 0
    assert fakes["telegram"].sent_messages() == []
    # and releases it at 08:00 Moscow time
    with time_machine.travel(datetime(2026, 12, 2, 8, 0, 30, tzinfo=MSK)):
        with django_capture_on_commit_callbacks(execute=True):  # the channel sends run after the commit
            assert notify_due() == 1
    assert len(fakes["telegram"].sent_messages()) == 1
    assert status_of(notifications_service_client, response)["status"] == "delivered"


def test_quiet_hours_window_after_midnight_ends_the_same_morning(fakes, make_recipient, notify):
    recipient = make_recipient("user", telegram=True)
    quiet(recipient)
    with time_machine.travel(datetime(2026, 12, 2, 3, 15, tzinfo=MSK)):
        response = notify(recipient)
    assert datetime.fromisoformat(response.json()["deliver_after"].replace("Z", "+00:00")) == \
        datetime(2026, 12, 2, 8, 0, tzinfo=MSK)


def test_outside_quiet_hours_goes_at_once(fakes, make_recipient, notify):
    recipient = make_recipient("user", telegram=True)
    quiet(recipient)
    with time_machine.travel(datetime(2026, 12, 1, 22, 59, tzinfo=MSK)):
        response = notify(recipient)
    assert response.json()["status"] == "pending" and response.json()["deliver_after"] is None
    assert len(fakes["telegram"].sent_messages()) == 1


def test_critical_goes_at_once_during_quiet_hours(fakes, make_recipient, notify):
    recipient = make_recipient("manager", telegram=True)
    quiet(recipient)
    with time_machine.travel(datetime(2026, 12, 1, 23, 30, tzinfo=MSK)):
        response = notify(recipient, type="critical")
    assert response.json()["status"] == "pending" and response.json()["deliver_after"] is None
    assert len(fakes["telegram"].sent_messages()) == 1


def test_telegram_that_may_have_delivered_stops_the_fallback(fakes, make_recipient, notify, settings,
                                                             notifications_service_client):
    # given Telegram answers only after our read timeout: the message may have arrived
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 1
    recipient = make_recipient("user", telegram=True, vk=True)
    fakes["telegram"].stall_next("sendMessage", 2)
    # when
    response = notify(recipient)
    # then VK is not tried (the user would get it twice), and the status says it may have arrived
    assert fakes["vk"].sent_messages() == []
    status = status_of(notifications_service_client, response)
    assert status["status"] == "unknown"
    assert [(a["channel"], a["status"]) for a in status["attempts"]] == [("telegram", "unknown")]

