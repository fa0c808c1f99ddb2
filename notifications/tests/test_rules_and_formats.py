"""Every role × type cell and every format × role cell, checked on what the fake servers received."""

import pytest

from notifications.models import NotificationType, Role
from notifications.rules import ROLE_TYPE_MATRIX, types_for_role

ALLOWED = {
    ("notification", "user"), ("notification", "moderator"), ("notification", "manager"), ("notification", "admin"),
    ("error", "admin"),
    ("critical", "admin"), ("critical", "manager"),
    ("deadline", "admin"), ("deadline", "manager"),
    ("service", "admin"),
}
CELLS = [(t, r) for t in NotificationType.values for r in Role.values]


def test_matrix_matches_the_spec_table():
    assert {(t, r) for t, roles in ROLE_TYPE_MATRIX.items() for r in roles} == ALLOWED
    assert types_for_role("user") == ["notification"]
    assert types_for_role("manager") == ["notification", "critical", "deadline"]
    assert types_for_role("admin") == NotificationType.values


@pytest.mark.parametrize("type_,role", CELLS)
def test_role_type_cell_is_enforced_by_send(fakes, make_recipient, send, type_, role):
    # given
    recipient = make_recipient(role)
    # when
    response = send(user_id=recipient.pk, service="email", subject="Тема", type=type_, message="Текст")
    # then
    if (type_, role) in ALLOWED:
        assert response.status_code == 200, response.json()
        assert fakes["smtp"].messages[-1]["Subject"] == f"Тема | {type_}"
    else:
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["type"]
        assert fakes["smtp"].messages == []


# Spec table plus the documented Менеджер row (staff: type in the push title).
PUSH_TITLE = {"user": "Сдача отчёта", "moderator": "Сдача отчёта | notification",
              "manager": "Сдача отчёта | notification", "admin": "Сдача отчёта | notification"}


@pytest.mark.parametrize("role", Role.values)
def test_email_format_per_role(fakes, make_recipient, send, role):
    recipient = make_recipient(role)
    assert send(user_id=recipient.pk, service="email", subject="Сдача отчёта", type="notification",
                message="Отчёт принят.\nСпасибо!").status_code == 200
    mail = fakes["smtp"].messages[-1]
    assert mail["Subject"] == "Сдача отчёта | notification"
    text = mail.get_body(preferencelist=("plain",)).get_content()  # the text part of the HTML email
    assert text.replace("\r\n", "\n").strip() == "Отчёт принят.\nСпасибо!"
    assert fakes["smtp"].envelopes[-1].rcpt_tos == [recipient.email]


@pytest.mark.parametrize("role", Role.values)
def test_push_format_per_role(fakes, make_recipient, send, role):
    recipient = make_recipient(role, devices=2)
    assert send(user_id=recipient.pk, service="push", subject="Сдача отчёта", type="notification",
                message="Отчёт принят.").status_code == 200
    request = fakes["onesignal"].calls("notifications")[-1]
    assert request.headers["Authorization"] == "Key os-test-key"
    body = request.json
    assert body["app_id"] == "app-test"
    assert body["headings"]["en"] == body["headings"]["ru"] == PUSH_TITLE[role]
    assert body["contents"]["en"] == "Отчёт принят."
    assert sorted(body["include_subscription_ids"]) == sorted(recipient.devices.values_list("device_id", flat=True))
    assert body["target_channel"] == "push"


# the messenger's request fields: the target chat and the text
MESSENGER_FIELDS = {"telegram": ("chat_id", "text"), "vk": ("peer_id", "message")}


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("service", MESSENGER_FIELDS)
def test_messenger_format_per_role(fakes, make_recipient, send, service, role):
    recipient = make_recipient(role, **{service: True})
    assert send(user_id=recipient.pk, service=service, subject="Сдача отчёта", type="notification",
                message="Отчёт принят.").status_code == 200
    [sent] = fakes[service].sent_messages()
    target, text = MESSENGER_FIELDS[service]
    assert sent[target] == recipient.bindings.get().service_user_id
    assert sent[text] == "Тема: Сдача отчёта | notification\nОтчёт принят."
    if service == "telegram":
        assert fakes["telegram"].calls("sendMessage")[0].path == "/bot123456:TEST-token/sendMessage"
    else:
        assert sent["access_token"] == "vk-test-token" and sent["v"] == "5.199"
        assert int(sent["random_id"]) > 0
