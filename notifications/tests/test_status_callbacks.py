"""Issue 18: signed status events (Standard Webhooks) to the service's callback_url."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications.models import QuietHours, StatusCallback
from notifications.tests.factories import verified


def test_delivered_event_is_signed_and_verifies(fakes, make_recipient, notify, receiver, callback):  # noqa: F811
    recipient = make_recipient("user", telegram=True)
    response = notify(recipient)
    [event] = verified(receiver, callback)
    assert event["type"] == "notification.delivered"
    assert event["data"]["id"] == response.json()["notification_id"]
    assert [(a["channel"], a["status"]) for a in event["data"]["attempts"]] == [("telegram", "sent")]
    headers = receiver.requests[0].headers
    assert headers["webhook-id"] == f"{event['data']['id']}:notification.delivered"


def test_failed_event(fakes, make_recipient, notify, receiver, callback):  # noqa: F811
    recipient = make_recipient("user", email="")
    notify(recipient)
    [event] = verified(receiver, callback)
    assert event["type"] == "notification.failed" and event["data"]["status"] == "failed"


def test_deferred_then_delivered_events(fakes, make_recipient, notify, receiver, callback,  # noqa: F811
                                       django_capture_on_commit_callbacks):
    from notifications.services.notify import notify_due

    recipient = make_recipient("user", telegram=True)
    QuietHours.objects.create(recipient=recipient, start=time(23, 0), end=time(8, 0), timezone="Europe/Moscow")
    msk = ZoneInfo("Europe/Moscow")
    with time_machine.travel(datetime(2026, 12, 1, 23, 30, tzinfo=msk)):
        notify(recipient)
        [deferred] = verified(receiver, callback)  # verified at its own time: the signature has a timestamp
    assert deferred["type"] == "notification.deferred"
    assert deferred["data"]["deliver_after"].startswith("2026-12-02T05:00:00")
    receiver.reset()
    with time_machine.travel(datetime(2026, 12, 2, 8, 1, tzinfo=msk)):
        with django_capture_on_commit_callbacks(execute=True):
            notify_due()
        [delivered] = verified(receiver, callback)
    assert delivered["type"] == "notification.delivered" and delivered["data"]["id"] == deferred["data"]["id"]


def test_a_forged_signature_does_not_verify(fakes, make_recipient, notify, receiver, callback):  # noqa: F811
    notify(make_recipient("user", telegram=True))
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request.headers.items()}
    with pytest.raises(WebhookVerificationError):
        Webhook(callback).verify(request.body.replace(b"delivered", b"failed!!!"), headers)


def test_no_callback_url_no_event(fakes, make_recipient, notify, receiver):  # noqa: F811
    receiver.reset()
    notify(make_recipient("user", telegram=True))
    assert receiver.requests == []


def test_secret_is_shown_once_and_can_be_rotated(receiver, notifications_service_client):
    url = receiver.url + "/hooks"
    first = notifications_service_client.put("/notifications/callback", {"callback_url": url}, format="json").json()
    assert first["secret"].startswith("whsec_")
    again = notifications_service_client.put("/notifications/callback", {"callback_url": url}, format="json").json()
    assert again["secret"] is None
    assert notifications_service_client.get("/notifications/callback").json() == {"callback_url": url, "secret": None}
    rotated = notifications_service_client.put("/notifications/callback", {"callback_url": url, "rotate_secret": True},
                                               format="json").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != first["secret"]


@pytest.mark.parametrize("url", ["http://10.0.0.5/hook", "http://169.254.169.254/latest", "ftp://example.com/x",
                                 "http://[::ffff:192.168.1.1]/x"])
def test_callback_url_is_ssrf_guarded(notifications_service_client, url):
    response = notifications_service_client.put("/notifications/callback", {"callback_url": url}, format="json")
    assert response.status_code == 400 and "callback_url" in response.json()["error"]["fields"]
    assert not StatusCallback.objects.exists()


def test_callback_needs_a_notifications_service(api_client, crm_client):
    assert api_client.get("/notifications/callback").status_code == 401
    assert crm_client.put("/notifications/callback", {"callback_url": "https://example.com"},
                          format="json").status_code == 403
