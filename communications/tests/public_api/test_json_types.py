"""Strict bodies take JSON types as the schema documents them (found by the contract fuzzer over HTTP).

DRF would store the number 0 as the text "0" and read "false" or 0 as a boolean; the schema says
string and boolean, so these are a 400 naming the field, with nothing written.
"""

import pytest

from communications.models import Chat, Message, Webhook
from communications.tests.factories import assert_refused, chat_payload, message_payload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("payload", "field"), [
    (message_payload(text=0), "text"),
    (message_payload(senderId=42), "senderId"),
    (message_payload(id=5001), "id"),
])
def test_a_number_where_the_schema_says_string_is_refused(api, payload, field):
    response = api.post("/api/v1/messages", payload, format="json")
    assert_refused(response, field)
    assert not Message.objects.exists() and not Chat.objects.exists()


def test_a_number_in_a_nested_object_is_refused_with_its_path(api):
    payload = message_payload()
    payload["chat"]["title"] = 7
    response = api.post("/api/v1/messages", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"chat": {"title": ["Ожидается строка."]}}


def test_an_edit_with_a_number_for_text_is_refused_and_the_text_kept(api):
    api.post("/api/v1/messages", message_payload(text="Привет"), format="json")
    response = api.patch("/api/v1/messages/msg-1", {"text": 0}, format="json")
    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]
    assert Message.objects.get().text == "Привет"


@pytest.mark.parametrize("value", ["false", 0, 1, "true"])
def test_rotate_secret_must_be_a_json_boolean(api, value):
    response = api.post("/api/v1/webhooks", {"url": "https://provider.example/hook", "events": ["message.created"],
                                             "rotateSecret": value}, format="json")
    assert response.status_code == 400
    assert "rotateSecret" in response.json()["error"]["fields"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("metadata", [[1, 2], "x", None])
def test_metadata_must_be_a_json_object(api, metadata):
    response = api.post("/api/v1/chats", chat_payload(metadata=metadata), format="json")
    assert response.status_code == 400
    assert "metadata" in response.json()["error"]["fields"]


def test_null_stays_the_fields_own_rule(api):
    # channelId documents null: a JSON null is not a type error
    response = api.post("/api/v1/chats", chat_payload(channelId=None), format="json")
    assert response.status_code == 201


def test_a_sent_at_from_long_ago_is_answered_as_a_valid_rfc3339_date_time(api):
    # Europe/Moscow before 1919 had an offset with seconds (+02:30:17), which RFC 3339 can't spell
    response = api.post("/api/v1/messages", message_payload(sentAt="0698-11-25T13:36:38-22:01"), format="json")
    assert response.status_code == 201
    assert response.json()["sentAt"] == "0698-11-26T11:37:38Z"
