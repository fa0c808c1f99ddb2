import pytest

from communications.models import Chat, Message, Participant
from communications.tests.factories import message_payload

pytestmark = pytest.mark.django_db


def test_bulk_reports_each_item_and_one_bad_item_does_not_reject_others(api):
    # given: an existing message, then a batch mixing new, duplicate, invalid and in-batch repeats
    api.post("/api/v1/messages", message_payload("m-old", "c-1"), format="json")
    unknown_channel = message_payload("m-4", "c-9")
    unknown_channel["chat"]["channelId"] = "nope"
    items = [
        message_payload("m-1", "c-1"),              # 0 created, existing chat
        message_payload("m-old", "c-1"),            # 1 duplicate of a stored message
        {**message_payload("m-2", "c-2"), "text": ""},  # 2 error: empty text
        message_payload("m-3", "c-2", participants=3),  # 3 created, new chat with participants
        unknown_channel,                            # 4 error: unknown channel
        message_payload("m-3", "c-2", participants=3),  # 5 duplicate inside the batch (same body)
        "not an object",                            # 6 error
        message_payload("m-5", "c-2"),              # 7 created, chat made by item 3
    ]
    # when
    response = api.post("/api/v1/bulk/messages", {"messages": items}, format="json")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(r["index"], r["id"], r["result"]) for r in body["results"]] == [
        (0, "m-1", "created"), (1, "m-old", "duplicate"), (2, "m-2", "error"), (3, "m-3", "created"),
        (4, "m-4", "error"), (5, "m-3", "duplicate"), (6, None, "error"), (7, "m-5", "created")]
    assert body["results"][2]["errors"] == {"text": ["Передайте текст или хотя бы одно вложение."]}
    assert body["results"][4]["errors"] == {"chat": {"channelId": ["Канал с таким id не подключён."]}}
    assert "non_field_errors" in body["results"][6]["errors"]
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 2, 3)
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m-1", "m-3", "m-5", "m-old"]
    assert sorted(Chat.objects.values_list("external_id", flat=True)) == ["c-1", "c-2"]
    assert Participant.objects.filter(chat__external_id="c-2").count() == 3
    assert Message.objects.get(external_id="m-5").chat.external_id == "c-2"


def test_bulk_resend_is_all_duplicates(api):
    items = [message_payload(f"m-{i}", "c-1") for i in range(5)]
    api.post("/api/v1/bulk/messages", {"messages": items}, format="json")
    body = api.post("/api/v1/bulk/messages", {"messages": items}, format="json").json()
    assert {r["result"] for r in body["results"]} == {"duplicate"}
    assert Message.objects.count() == 5 and Participant.objects.count() == 2


def test_bulk_text_is_stored_exactly(api):
    text = " <i>*спец*</i> \n\t& "
    api.post("/api/v1/bulk/messages", {"messages": [message_payload(text=text)]}, format="json")
    assert Message.objects.get().text == text


@pytest.mark.parametrize("payload", [
    {"messages": []}, {"messages": [message_payload(f"m-{i}") for i in range(101)]}, {}, {"messages": "x"},
    [message_payload()], {"messages": [message_payload()], "extra": True},
])
def test_bulk_envelope_errors_are_400_and_store_nothing(api, payload):
    response = api.post("/api/v1/bulk/messages", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Message.objects.exists()


def test_bulk_of_exactly_100_is_accepted(api):
    response = api.post("/api/v1/bulk/messages",
                        {"messages": [message_payload(f"m-{i}", f"c-{i % 7}") for i in range(100)]}, format="json")
    assert response.status_code == 200 and response.json()["created"] == 100
    assert Chat.objects.count() == 7 and Participant.objects.count() == 14
