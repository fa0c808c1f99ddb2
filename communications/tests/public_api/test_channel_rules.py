"""Issue 16 items 7 and 11: what a chat without a channel means, and messages into a disconnected channel."""

import pytest

from communications import provider_contract as contract
from communications.models import Chat, Message
from communications.tests.factories import message_payload

pytestmark = pytest.mark.django_db


def test_a_chat_without_a_channel_is_accepted_and_gets_one_only_through_patch(api):
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram"}, format="json")
    created = api.post("/api/v1/messages", message_payload("m-1", "c-1"), format="json").json()
    assert created["chatId"] == "c-1" and Chat.objects.get().channel is None
    assert api.patch("/api/v1/chats/c-1", {"channelId": "tg-1"}, format="json").json()["channelId"] == "tg-1"


def test_the_contract_shows_what_a_chat_without_a_channel_sends():
    example = contract.EXAMPLE_REQUESTS_CHAT_WITHOUT_CHANNEL
    assert example["sendMessage"]["channelId"] is None and example["markChatRead"]["channelId"] is None
    assert example["sendMessage"]["operatorId"] is None  # always present, null when the CRM gave none


def test_guide_shows_the_chat_without_channel_example(client):
    page = client.get("/developers/guide/").content.decode()
    assert 'id="chat-without-channel"' in page and '"channelId": null' in page


def test_a_message_into_a_disconnected_channel_is_stored_and_the_channel_stays_disconnected(api):
    """Decision (docs/public-api.md): late messages of a disconnected channel are not lost."""
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram"}, format="json")
    payload = message_payload("m-1", "c-1")
    payload["chat"]["channelId"] = "tg-1"
    api.post("/api/v1/chats", payload["chat"], format="json")
    api.delete("/api/v1/channels/tg-1")
    response = api.post("/api/v1/messages", {**payload, "id": "m-2"}, format="json")
    assert response.status_code == 201
    assert Message.objects.filter(external_id="m-2").exists()
    channel = Chat.objects.get().channel
    assert channel.account.is_active is False
