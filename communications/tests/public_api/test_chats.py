import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communications.models import Chat, Message, Participant
from communications.tests.factories import assert_refused, chat_payload, message_payload

pytestmark = pytest.mark.django_db


def test_create_chat_with_participants(api):
    response = api.post("/api/v1/chats", chat_payload("c-1", participants=3), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == "c-1" and [p["id"] for p in body["participants"]] == ["user-0", "user-1", "user-2"]
    assert Participant.objects.filter(chat__external_id="c-1").count() == 3


def test_resending_chat_with_another_body_is_409_and_changes_nothing(api):
    api.post("/api/v1/chats", chat_payload("c-1", participants=2), format="json")
    response = api.post("/api/v1/chats", {**chat_payload("c-1", participants=5), "title": "Другое"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "id_conflict"
    assert Chat.objects.get().title == "Чат"
    assert Chat.objects.count() == 1 and Participant.objects.count() == 2


def test_chat_in_connected_channel(api):
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram"}, format="json")
    response = api.post("/api/v1/chats", chat_payload("c-1", channelId="tg-1"), format="json")
    assert response.status_code == 201 and response.json()["channelId"] == "tg-1"


def test_chat_in_unknown_channel_is_400_and_creates_nothing(api):
    response = api.post("/api/v1/chats", chat_payload("c-1", channelId="nope"), format="json")
    assert response.status_code == 400
    assert "channelId" in response.json()["error"]["fields"]
    assert not Chat.objects.exists()


@pytest.mark.parametrize("payload, field", [
    ({"title": "x"}, "id"),
    (chat_payload(participants=101), "participants"),
    ({"id": "c", "participants": [{"id": "u"}, {"id": "u"}]}, "participants"),
    ({"id": "c", "participants": [{"name": "без id"}]}, "participants"),
    ({"id": "c", "title": "t" * 256}, "title"),
    ({"id": "c", "participants": "u1"}, "participants"),
    ({"id": "c", "unknown": 1}, "unknown"),
    # the schema's maxLength counts what was sent, before trimming (found by schemathesis: "\x1c" + 32 chars)
    ({"id": "c", "type": "\x1c" + "g" * 32}, "type"),
    ({"id": "c", "title": " " + "t" * 255}, "title"),
])
def test_create_chat_validation_errors(api, payload, field):
    response = api.post("/api/v1/chats", payload, format="json")
    assert_refused(response, field)
    assert not Chat.objects.exists() and not Participant.objects.exists()


def test_patch_chat_updates_info_and_upserts_participants(api):
    # given
    api.post("/api/v1/chats", chat_payload("c-1", participants=2), format="json")
    # when
    response = api.patch("/api/v1/chats/c-1", {"title": "Новое", "metadata": {"vip": True},
                                               "participants": [{"id": "user-0", "name": "Переименован"},
                                                                {"id": "user-9", "name": "Новый"}]}, format="json")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Новое" and body["metadata"] == {"vip": True} and body["type"] == "private"
    names = {p["id"]: p["name"] for p in body["participants"]}
    assert names == {"user-0": "Переименован", "user-1": "Участник 1", "user-9": "Новый"}


@pytest.mark.parametrize("payload, field", [
    ({}, "non_field_errors"), ({"id": "other"}, "id"), ({"title": None}, "title"), ({"channelId": "nope"}, "channelId"),
])
def test_patch_chat_validation_errors_change_nothing(api, payload, field):
    api.post("/api/v1/chats", chat_payload("c-1"), format="json")
    response = api.patch("/api/v1/chats/c-1", payload, format="json")
    assert_refused(response, field)
    chat = Chat.objects.get()
    assert chat.external_id == "c-1" and chat.title == "Чат" and chat.channel is None


def test_patch_unknown_chat_is_404(api):
    assert api.patch("/api/v1/chats/nope", {"title": "x"}, format="json").status_code == 404


def test_seen_flips_only_unread_messages_in_one_update(api):
    # given: two unread incoming, one already read, one outgoing (read by definition), one in another chat
    for i in range(2):
        api.post("/api/v1/messages", message_payload(f"in-{i}", "c-1"), format="json")
    api.post("/api/v1/messages", message_payload("out-1", "c-1", direction="outgoing"), format="json")
    api.post("/api/v1/messages", message_payload("old", "c-1"), format="json")
    Message.objects.filter(external_id="old").update(seen_flag=True)
    api.post("/api/v1/messages", message_payload("other", "c-2"), format="json")
    before = {m.external_id: m.updated_at for m in Message.objects.all()}
    # when
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/chats/c-1/seen")
    # then
    assert response.status_code == 200
    assert response.json() == {"chatId": "c-1", "updated": 2}
    updates = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "seen_flag" in updates[0]
    seen = dict(Message.objects.values_list("external_id", "seen_flag"))
    assert seen == {"in-0": True, "in-1": True, "out-1": True, "old": True, "other": False}
    after = {m.external_id: m.updated_at for m in Message.objects.all()}
    assert after["old"] == before["old"] and after["out-1"] == before["out-1"]  # untouched rows
    # a second call has nothing to flip
    assert api.post("/api/v1/chats/c-1/seen").json()["updated"] == 0


def test_seen_unknown_chat_is_404(api):
    assert api.post("/api/v1/chats/nope/seen").status_code == 404
