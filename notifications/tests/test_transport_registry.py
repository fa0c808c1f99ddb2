"""Issue 22: adding a notification transport is one `Transport` class plus a choice value.

A test-only SMS channel (a loopback HTTP gateway, called with requests) is registered here and used through
the real send service and the delivery engine: rendering, limits, «not linked», the call, outcomes.
"""

import pytest
import requests

from config.errors import ApplicationError
from config.testing.fake_http import Receiver
from notifications.models import Notification
from notifications.services import notification_send
from notifications.transports import DeliveryError, Target, Transport, get_transport
from notifications.transports import base as channels
from notifications.transports.base import Result, request_error


class SmsTransport(Transport):
    service = "sms"
    drops_duplicates = True  # the gateway drops a repeated message id
    not_linked_text = "У получателя нет телефона."
    body_limit = (70, "SMS")
    gateway = ""

    def target(self, recipient):
        return Target([recipient.name]) if recipient.name.startswith("+7") else None

    def send(self, *, notification_id, target, rendered):
        try:
            answer = requests.post(f"{self.gateway}/sms", json={"to": target.addresses[0], "text": rendered.body,
                                                                 "id": str(notification_id)}, timeout=2)
        except requests.RequestException as exc:
            raise request_error("SMS-шлюз", exc)
        if answer.status_code >= 500:
            raise DeliveryError(f"SMS-шлюз HTTP {answer.status_code}", permanent=False)
        if answer.status_code >= 400:
            raise DeliveryError(f"SMS-шлюз HTTP {answer.status_code}", permanent=True)
        return Result(external_id=answer.json()["ok"] and f"sms-{notification_id}")


@pytest.fixture
def sms(monkeypatch):
    with Receiver() as gateway:
        monkeypatch.setattr(SmsTransport, "gateway", gateway.url)
        monkeypatch.setitem(channels._TRANSPORTS, "sms", SmsTransport)  # what @register does, undone after the test
        yield gateway


def _send(recipient, text="Завтра в 10:00"):
    return notification_send(requested_by=None, user_id=recipient.pk, service="sms", subject="Встреча",
                             type="notification", message=text)


def test_a_registered_channel_is_sent_through_the_engine_with_its_own_format(sms, make_recipient):
    recipient = make_recipient("user", name="+79990000000")
    row = _send(recipient)
    assert row.status == Notification.Status.SENT and row.http_status == 200
    assert [r.json for r in sms.requests] == [{"to": "+79990000000", "text": "Тема: Встреча | notification\n"
                                                                             "Завтра в 10:00", "id": str(row.pk)}]
    assert row.delivery.kind == "notification" and row.delivery.status == "delivered"


def test_its_limit_its_not_linked_text_and_its_outcomes_apply(sms, make_recipient):
    linked, unlinked = make_recipient("user", name="+79990000001"), make_recipient("user", name="Иван")
    with pytest.raises(ApplicationError) as error:
        _send(linked, text="x" * 70)
    assert error.value.fields == {"message": [error.value.message]} and "SMS" in error.value.message
    missing = _send(unlinked)
    assert missing.http_status == 404 and missing.last_error == "У получателя нет телефона."
    sms.fail_next("sms", 400, {"error": "bad number"})
    refused = _send(linked)
    assert refused.status == Notification.Status.FAILED and refused.http_status == 500
    assert "HTTP 400" in refused.last_error and len(sms.requests) == 1


def test_an_unknown_channel_is_a_lookup_error():
    with pytest.raises(LookupError):
        get_transport("pigeon")
