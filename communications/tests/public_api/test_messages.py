import json

import pytest

from communications.api.public import limits
from communications.models import Chat, Message, MessageEdit, MessageStatusHistory, Participant
from communications.tests.factories import assert_refused, message_payload

pytestmark = pytest.mark.django_db

SPECIAL_TEXT = "  <b>жирный?</b> *нет* _формата_ & \"кавычки\" 'апостроф' \\n \n\tтаб 😀 ${x} %s {{y}}  "


def test_first_message_creates_chat_with_all_participants(api, integration):
    # when
    response = api.post("/api/v1/messages", message_payload("m-1", "c-1", participants=3), format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == "m-1" and body["chatId"] == "c-1" and body["direction"] == "incoming"
    assert body["seen"] is False and body["status"] == "sent" and body["senderId"] == "user-0"
    chat = Chat.objects.get(external_id="c-1")
    assert chat.tenant_id == integration.tenant_id and chat.provider == integration.provider
    assert sorted(Participant.objects.filter(chat=chat).values_list("external_id", flat=True)) == [
        "user-0", "user-1", "user-2"]


def test_text_is_stored_exactly_as_sent(api):
    response = api.post("/api/v1/messages", message_payload(text=SPECIAL_TEXT), format="json")
    assert response.status_code == 201
    assert Message.objects.get().text == SPECIAL_TEXT
    assert response.json()["text"] == SPECIAL_TEXT


def test_message_into_existing_chat_does_not_touch_chat(api):
    api.post("/api/v1/messages", message_payload("m-1", "c-1", participants=2), format="json")
    response = api.post("/api/v1/messages", {**message_payload("m-2", "c-1", participants=5),
                                             "chat": {"id": "c-1", "title": "другое"}}, format="json")
    assert response.status_code == 201
    assert Chat.objects.count() == 1 and Chat.objects.get().title == "Чат"
    assert Participant.objects.count() == 2 and Message.objects.count() == 2


def test_resending_message_returns_existing_with_200_and_creates_nothing(api):
    first = api.post("/api/v1/messages", message_payload("m-1", text="раз"), format="json").json()
    response = api.post("/api/v1/messages", message_payload("m-1", text="раз"), format="json")
    assert response.status_code == 200
    assert response.json() == first
    other = api.post("/api/v1/messages", message_payload("m-1", "c-2", text="два"), format="json")
    assert other.status_code == 409 and other.json()["error"]["code"] == "id_conflict"
    assert Message.objects.count() == 1 and Chat.objects.count() == 1


def test_outgoing_message_counts_as_seen(api):
    response = api.post("/api/v1/messages", message_payload(direction="outgoing"), format="json")
    assert response.json()["seen"] is True and response.json()["direction"] == "outgoing"


@pytest.mark.parametrize("change, field", [
    ({"text": ""}, "text"),
    ({"text": None}, "text"),
    ({"text": "x" * (limits.MAX_TEXT_LENGTH + 1)}, "text"),
    ({"text": "nul\x00byte"}, "text"),
    ({"id": ""}, "id"),
    ({"chat": None}, "chat"),
    ({"chat": {"title": "без id"}}, "chat"),
    ({"direction": "sideways"}, "direction"),
    ({"status": "failed"}, "status"),
    ({"status": "lost"}, "status"),
    ({"sentAt": "вчера"}, "sentAt"),
    ({"html": "<p>"}, "html"),
])
def test_create_message_validation_errors(api, change, field):
    response = api.post("/api/v1/messages", {**message_payload(), **change}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert not Message.objects.exists() and not Chat.objects.exists()


def test_too_many_participants_is_400(api):
    response = api.post("/api/v1/messages", message_payload(participants=limits.MAX_PARTICIPANTS + 1), format="json")
    assert response.status_code == 400
    assert "participants" in response.json()["error"]["fields"]["chat"]


def test_unknown_channel_in_new_chat_is_400_and_nothing_written(api):
    payload = message_payload()
    payload["chat"]["channelId"] = "nope"
    response = api.post("/api/v1/messages", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"chat": {"channelId": ["Канал с таким id не подключён."]}}
    assert not Chat.objects.exists() and not Message.objects.exists()


def test_body_over_limit_is_413(api):
    body = json.dumps(message_payload(text="x" * (limits.MAX_BODY_BYTES + 10)))
    response = api.generic("POST", "/api/v1/messages", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not Message.objects.exists()


def test_malformed_json_is_400_and_wrong_media_type_is_415(api):
    response = api.generic("POST", "/api/v1/messages", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"
    response = api.generic("POST", "/api/v1/messages", "a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and "error" in response.json()


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, b"\xff\xfe", "null", "[]", '"text"'])
def test_hostile_json_bodies_are_4xx_never_500(api, body):
    response = api.generic("POST", "/api/v1/messages", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"parse_error", "validation_error"}
    assert not Message.objects.exists()


def test_patch_changes_only_the_text_and_keeps_history(api):
    # given
    api.post("/api/v1/messages", message_payload("m-1", text="старый", sentAt="2026-01-01T10:00:00Z"), format="json")
    api.post("/api/v1/messages/m-1/status", {"status": "delivered"}, format="json")
    before = Message.objects.get()
    # when
    response = api.patch("/api/v1/messages/m-1", {"text": SPECIAL_TEXT}, format="json")
    # then
    assert response.status_code == 200, response.content
    after = Message.objects.get()
    assert after.text == SPECIAL_TEXT and after.edited_at is not None
    for field in ("chat_id", "direction", "sender_external_id", "seen_flag", "status", "sent_at", "created_at",
                  "external_id"):
        assert getattr(after, field) == getattr(before, field), field
    edit = MessageEdit.objects.get()
    assert edit.previous_text == "старый" and edit.new_text == SPECIAL_TEXT and edit.edited_at
    # a second edit appends to the history
    api.patch("/api/v1/messages/m-1", {"text": "третий"}, format="json")
    assert list(MessageEdit.objects.values_list("previous_text", flat=True)) == ["старый", SPECIAL_TEXT]


@pytest.mark.parametrize("payload, field", [
    ({}, "text"), ({"text": ""}, "text"), ({"text": "x", "direction": "outgoing"}, "direction"),
    ({"text": "x", "status": "read"}, "status"), ({"text": "x" * (limits.MAX_TEXT_LENGTH + 1)}, "text"),
])
def test_patch_rejects_anything_but_a_valid_text(api, payload, field):
    api.post("/api/v1/messages", message_payload("m-1", text="старый"), format="json")
    response = api.patch("/api/v1/messages/m-1", payload, format="json")
    assert_refused(response, field)
    message = Message.objects.get()
    assert message.text == "старый" and message.direction == "incoming" and message.status == "sent"
    assert not MessageEdit.objects.exists()


def test_patch_unknown_message_is_404(api):
    assert api.patch("/api/v1/messages/nope", {"text": "x"}, format="json").status_code == 404


def test_status_changes_are_recorded_in_history(api):
    # given
    api.post("/api/v1/messages", message_payload("m-1", direction="outgoing"), format="json")
    # when
    for payload in ({"status": "delivered"}, {"status": "read"}, {"status": "read"},
                    {"status": "failed", "error": "Пользователь заблокировал бота"}):
        response = api.post("/api/v1/messages/m-1/status", payload, format="json")
        assert response.status_code == 200, response.content
    # then
    assert response.json()["status"] == "failed" and response.json()["error"] == "Пользователь заблокировал бота"
    history = list(MessageStatusHistory.objects.values_list("status", "error"))
    assert history == [("delivered", ""), ("read", ""), ("failed", "Пользователь заблокировал бота")]
    assert all(h.changed_at for h in MessageStatusHistory.objects.all())
    # and failed is final: a later status is stale and answered with the current state
    body = api.post("/api/v1/messages/m-1/status", {"status": "sent"}, format="json").json()
    assert body["status"] == "failed" and body["error"] == "Пользователь заблокировал бота"


@pytest.mark.parametrize("payload, field", [
    ({}, "status"), ({"status": "lost"}, "status"), ({"status": "failed"}, "error"),
    ({"status": "failed", "error": "  "}, "error"), ({"status": "read", "error": "зачем"}, "error"),
    ({"status": "failed", "error": "x" * (limits.MAX_ERROR_LENGTH + 1)}, "error"),
])
def test_status_validation_errors(api, payload, field):
    api.post("/api/v1/messages", message_payload("m-1"), format="json")
    response = api.post("/api/v1/messages/m-1/status", payload, format="json")
    assert_refused(response, field)
    assert Message.objects.get().status == "sent" and not MessageStatusHistory.objects.exists()


def test_status_of_unknown_message_is_404(api):
    assert api.post("/api/v1/messages/nope/status", {"status": "read"}, format="json").status_code == 404
