import uuid

import pytest

from notifications.models import Notification
from notifications.tests.factories import send_payload as payload

OK = {"status": "success", "message": "Notification sent successfully."}
BAD = "Invalid request format or service."
NOT_FOUND = "User not found or UUID not linked."
FAILED = {"status": "error", "message": "Failed to send notification."}


@pytest.mark.parametrize("path", ["/notifications/send", "/notifications/send/"])
def test_send_email_returns_spec_200_and_delivers(fakes, make_recipient, send, path):
    # given
    recipient = make_recipient("user")
    # when
    response = send(payload(recipient), path=path)
    # then
    assert response.status_code == 200
    assert response.json() == OK
    mail = fakes["smtp"].messages[-1]
    assert mail["To"] == recipient.email
    assert mail["X-Notification-Id"] == response["Notification-Id"]
    row = Notification.objects.get(pk=response["Notification-Id"])
    assert (row.status, row.attempts, row.http_status) == ("sent", 1, 200)
    assert (row.service, row.subject, row.type, row.message) == ("email", "Отчёт", "notification", "Готово")
    assert row.external_id == mail["Message-ID"].strip() and row.sent_at and row.timestamp


@pytest.mark.parametrize("body,field", [
    ({"service": "fax"}, "service"),
    ({"type": "spam"}, "type"),
    ({"user_id": "not-a-uuid"}, "user_id"),
    ({"subject": ""}, "subject"),
    ({"subject": "a\nb"}, "subject"),
    ({"message": None}, "message"),
])
def test_send_bad_format_returns_spec_400_naming_the_field(fakes, make_recipient, send, body, field):
    recipient = make_recipient("admin")
    response = send(payload(recipient, **body))
    assert response.status_code == 400
    data = response.json()
    assert data["status"] == "error" and data["message"] == BAD
    assert field in data["errors"]
    assert not Notification.objects.exists()


def test_send_missing_fields_and_non_json_body_return_400(fakes, send, notifications_service_client):
    response = send({"service": "email"})
    assert response.status_code == 400
    assert {"user_id", "subject", "type", "message"} <= set(response.json()["errors"])
    raw = notifications_service_client.post("/notifications/send", "{oops", content_type="application/json")
    assert raw.status_code == 400
    assert raw.json()["message"] == BAD and raw.json()["errors"]["non_field_errors"]


def test_send_type_not_allowed_for_role_returns_400_saying_which(fakes, make_recipient, send):
    recipient = make_recipient("user")
    response = send(payload(recipient, type="error"))
    assert response.status_code == 400
    assert response.json()["message"] == BAD
    assert response.json()["errors"] == {"type": ["Тип «error» недоступен для роли «Пользователь»."]}
    assert fakes["smtp"].messages == []


def test_send_unknown_user_returns_spec_404(fakes, send):
    response = send(user_id=str(uuid.uuid4()), service="email", subject="s", type="notification", message="m")
    assert response.status_code == 404
    assert response.json()["status"] == "error" and response.json()["message"] == NOT_FOUND
    assert "user_id" in response.json()["errors"]


@pytest.mark.parametrize("service,kwargs", [
    ("telegram", {}), ("vk", {}), ("push", {}), ("email", {"email": ""}),
])
def test_send_to_unlinked_channel_returns_404_and_records_failure(fakes, make_recipient, send, service, kwargs):
    # given a recipient without a binding / device / email address
    recipient = make_recipient("user", **kwargs)
    # when
    response = send(payload(recipient, service=service))
    # then
    assert response.status_code == 404
    assert response.json()["message"] == NOT_FOUND
    assert response.json()["errors"]["service"]
    row = Notification.objects.get(recipient=recipient)
    assert (row.status, row.http_status, row.attempts) == ("failed", 404, 0)
    assert fakes["telegram"].requests == [] and fakes["vk"].requests == [] and fakes["onesignal"].requests == []


def test_send_inactive_binding_counts_as_not_linked(fakes, make_recipient, send):
    recipient = make_recipient("user", telegram=True)
    recipient.bindings.update(is_active=False)
    assert send(payload(recipient, service="telegram")).status_code == 404


def test_channel_failure_returns_spec_500_and_keeps_the_error(fakes, make_recipient, send):
    # given the SMTP server refuses the address
    recipient = make_recipient("user")
    fakes["smtp"].rejected.add(recipient.email)
    # when
    response = send(payload(recipient))
    # then
    assert response.status_code == 500
    assert response.json() == FAILED
    row = Notification.objects.get(recipient=recipient)
    assert row.status == "failed" and row.http_status == 500 and "SMTP" in row.last_error and row.attempts == 1


def test_unreachable_channel_returns_500(fakes, make_recipient, send, settings):
    settings.ONESIGNAL_API_BASE_URL = "http://127.0.0.1:1"
    settings.NOTIFICATIONS_SYNC_DEADLINE = 0
    recipient = make_recipient("user", devices=1)
    response = send(payload(recipient, service="push"))
    assert response.status_code == 500 and response.json() == FAILED
    assert "OneSignal недоступен" in Notification.objects.get(recipient=recipient).last_error


def test_unconfigured_channel_returns_500(fakes, make_recipient, send, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    recipient = make_recipient("admin", telegram=True)
    response = send(payload(recipient, service="telegram"))
    assert response.status_code == 500
    assert "TELEGRAM_BOT_TOKEN" in Notification.objects.get(recipient=recipient).last_error


def test_send_requires_a_notifications_service_token(fakes, make_recipient, api_client, crm_client):
    recipient = make_recipient("user")
    anonymous = api_client.post("/notifications/send", payload(recipient), format="json")
    assert anonymous.status_code == 401 and anonymous.json()["status"] == "error"
    other_service = crm_client.post("/notifications/send", payload(recipient), format="json")
    assert other_service.status_code == 403
    assert fakes["smtp"].messages == []


def test_recipient_token_cannot_send(fakes, make_recipient, api_client):
    from notifications.auth import RecipientToken

    recipient = make_recipient("admin")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RecipientToken.for_recipient(recipient)}")
    assert api_client.post("/notifications/send", payload(recipient), format="json").status_code == 401


@pytest.mark.parametrize("service", ["telegram", "vk"])
def test_message_longer_than_messenger_limit_is_rejected(fakes, make_recipient, send, service):
    recipient = make_recipient("user", telegram=True, vk=True)
    response = send(payload(recipient, service=service, message="я" * 4090))
    assert response.status_code == 400
    assert "4096" in response.json()["errors"]["message"][0]
    ok = send(payload(recipient, service=service, message="я" * (4096 - len("Тема: Отчёт | notification\n"))))
    assert ok.status_code == 200
