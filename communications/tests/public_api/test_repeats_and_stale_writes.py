"""One rule for repeated POSTs (issue 16 item 6, issue 23 item 13), stale PATCHes (issue 23 item 13)
and forward-only statuses (issue 23 item 10)."""

import pytest

from communications.models import Channel, Chat, Message, MessageEdit, MessageStatusHistory
from communications.tests.factories import chat_payload, message_payload

pytestmark = pytest.mark.django_db


def _conflict(response, field="id"):
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "id_conflict" and field in error["fields"]


# --- repeated POST: same body -> 200 unchanged; another body -> 409 id_conflict ------------------

def test_channel_repeat_with_the_same_body_returns_it_unchanged(api):
    body = {"id": "vk-1", "code": "vk", "name": "Группа", "metadata": {"group": 7}}
    first = api.post("/api/v1/channels", body, format="json")
    again = api.post("/api/v1/channels", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


@pytest.mark.parametrize("change", [{"code": "telegram"}, {"name": ""}, {"metadata": {}}, {"name": "Другое"}])
def test_channel_repeat_with_another_body_is_409_and_changes_nothing(api, change):
    body = {"id": "vk-1", "code": "vk", "name": "Группа", "metadata": {"group": 7}}
    api.post("/api/v1/channels", body, format="json")
    repeat = {**body, **change}
    if change == {"name": ""}:
        del repeat["name"]  # `{id, code}` alone used to clear name and metadata
    _conflict(api.post("/api/v1/channels", repeat, format="json"))
    channel = Channel.objects.get()
    assert (channel.code, channel.name, channel.metadata) == ("vk", "Группа", {"group": 7})


def test_channel_repeat_still_reactivates_a_disconnected_channel(api):
    body = {"id": "wa-1", "code": "whatsapp", "name": "WA"}
    api.post("/api/v1/channels", body, format="json")
    api.delete("/api/v1/channels/wa-1")
    response = api.post("/api/v1/channels", body, format="json")
    assert response.status_code == 200 and response.json()["active"] is True


def test_channel_changes_go_through_patch(api):
    api.post("/api/v1/channels", {"id": "vk-1", "code": "vk", "name": "Группа"}, format="json")
    response = api.patch("/api/v1/channels/vk-1", {"name": "Новая", "metadata": {"a": 1}}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["metadata"], response.json()["code"]) == ("Новая", {"a": 1}, "vk")
    assert api.patch("/api/v1/channels/vk-1", {"code": "telegram"}, format="json").status_code == 400
    assert api.patch("/api/v1/channels/nope", {"name": "x"}, format="json").status_code == 404


def test_chat_repeat_same_body_200_another_body_409(api):
    body = chat_payload("c-1")
    first = api.post("/api/v1/chats", body, format="json")
    assert api.post("/api/v1/chats", body, format="json").json() == first.json()
    _conflict(api.post("/api/v1/chats", {**body, "title": "Другой"}, format="json"))
    assert Chat.objects.get().title == "Чат"


def test_chat_created_by_a_message_then_posted_with_a_channel_is_a_conflict_not_silence(api):
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram"}, format="json")
    api.post("/api/v1/messages", message_payload("m-1", "c-1"), format="json")
    _conflict(api.post("/api/v1/chats", chat_payload("c-1", channelId="tg-1"), format="json"))
    # the documented way: PATCH
    response = api.patch("/api/v1/chats/c-1", {"channelId": "tg-1"}, format="json")
    assert response.status_code == 200 and response.json()["channelId"] == "tg-1"


def test_message_repeat_same_body_200_even_after_edits_and_statuses(api):
    body = message_payload("m-1", direction="outgoing")
    first = api.post("/api/v1/messages", body, format="json")
    api.patch("/api/v1/messages/m-1", {"text": "исправлено"}, format="json")
    api.post("/api/v1/messages/m-1/status", {"status": "delivered"}, format="json")
    again = api.post("/api/v1/messages", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert (again.json()["text"], again.json()["status"]) == ("исправлено", "delivered")


def test_message_repeat_with_another_text_is_409_and_keeps_the_text(api):
    api.post("/api/v1/messages", message_payload("m-1", text="раз"), format="json")
    _conflict(api.post("/api/v1/messages", message_payload("m-1", text="два"), format="json"))
    assert Message.objects.get().text == "раз"


def test_bulk_repeat_with_another_body_is_an_item_error(api):
    api.post("/api/v1/messages", message_payload("m-1", text="раз"), format="json")
    body = api.post("/api/v1/bulk/messages", {"messages": [
        message_payload("m-1", text="раз"), message_payload("m-1", text="два"), message_payload("m-2")]},
        format="json").json()
    assert [r["result"] for r in body["results"]] == ["duplicate", "error", "created"]
    assert "id" in body["results"][1]["errors"]
    assert Message.objects.get(external_id="m-1").text == "раз"


# --- stale PATCH: changedAt older than the stored change -> 409 stale_update ----------------------

def test_stale_message_patch_is_409_and_does_not_overwrite_the_newer_text(api):
    api.post("/api/v1/messages", message_payload("m-1", text="v0"), format="json")
    newer = api.patch("/api/v1/messages/m-1", {"text": "v2", "changedAt": "2026-11-20T10:00:02Z"}, format="json")
    assert newer.status_code == 200
    stale = api.patch("/api/v1/messages/m-1", {"text": "v1", "changedAt": "2026-11-20T10:00:01Z"}, format="json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_update"
    assert "changedAt" in stale.json()["error"]["fields"]
    assert Message.objects.get().text == "v2" and MessageEdit.objects.count() == 1


def test_patch_without_time_and_a_newer_time_both_apply(api):
    api.post("/api/v1/messages", message_payload("m-1", text="v0"), format="json")
    assert api.patch("/api/v1/messages/m-1", {"text": "v1", "changedAt": "2026-11-20T10:00:01+03:00"},
                     format="json").status_code == 200
    assert api.patch("/api/v1/messages/m-1", {"text": "v2", "changedAt": "2026-11-20T07:00:02Z"},
                     format="json").status_code == 200
    assert api.patch("/api/v1/messages/m-1", {"text": "v3"}, format="json").status_code == 200
    assert Message.objects.get().text == "v3"


def test_stale_chat_patch_is_409(api):
    api.post("/api/v1/chats", chat_payload("c-1"), format="json")
    api.patch("/api/v1/chats/c-1", {"title": "новое", "changedAt": "2026-11-20T10:00:02Z"}, format="json")
    stale = api.patch("/api/v1/chats/c-1", {"title": "старое", "changedAt": "2026-11-20T10:00:01Z"}, format="json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_update"
    assert Chat.objects.get().title == "новое"


# --- statuses move forward only ----------------------------------------------------------------------

@pytest.mark.parametrize(("path", "stale", "final"), [
    (["delivered", "read"], "delivered", "read"),
    (["read"], "sent", "read"),
    (["delivered"], "sent", "delivered"),
    (["failed"], "read", "failed"),
    (["failed"], "delivered", "failed"),
])
def test_a_stale_status_gets_200_with_the_current_state_and_records_nothing(api, path, stale, final):
    api.post("/api/v1/messages", message_payload("m-1", direction="outgoing"), format="json")
    for status in path:
        body = {"status": status, **({"error": "Бот заблокирован"} if status == "failed" else {})}
        assert api.post("/api/v1/messages/m-1/status", body, format="json").status_code == 200
    recorded = MessageStatusHistory.objects.count()
    response = api.post("/api/v1/messages/m-1/status", {"status": stale}, format="json")
    assert response.status_code == 200 and response.json()["status"] == final
    assert Message.objects.get().status == final and MessageStatusHistory.objects.count() == recorded


def test_failed_is_final_even_for_another_failure(api):
    api.post("/api/v1/messages", message_payload("m-1", direction="outgoing"), format="json")
    api.post("/api/v1/messages/m-1/status", {"status": "failed", "error": "первая"}, format="json")
    body = api.post("/api/v1/messages/m-1/status", {"status": "failed", "error": "вторая"}, format="json").json()
    assert (body["status"], body["error"]) == ("failed", "первая")
