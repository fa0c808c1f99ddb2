"""The answer of the public message endpoints is built by hand (`public_message_data`, issue 19); it must stay
what `PublicMessageSerializer`, the schema's serializer, gives for every kind of message."""

import datetime

import pytest
from django.utils import timezone

from communications.api.public.serializers import PublicMessageSerializer, public_message_data
from communications.models import Message
from communications.tests.factories import message_payload
from communications.tests.public_api.test_attachments import CONTACT, LOCATION, PHOTO

pytestmark = pytest.mark.django_db


def test_the_hand_built_answer_equals_the_serializer_for_every_kind_of_message(api):
    # given: messages of every shape, through the API (both the one-statement and the general path)
    answers = {}
    for payload in [
        message_payload("m-new-chat", "c-1"),  # the general path: the chat is new
        message_payload("m-known", "c-1", sentAt="2026-01-01T10:00:00+03:00", direction="outgoing"),
        message_payload("m-reply", "c-1", replyTo="m-known"),  # resolved
        message_payload("m-reply-unknown", "c-1", replyTo="m-nowhere"),  # not resolved
        message_payload("m-attachments", "c-1", text="", attachments=[PHOTO, LOCATION, CONTACT]),
        message_payload("m-old", "c-1", sentAt="1900-01-01T00:00:00Z", senderId=""),
    ]:
        response = api.post("/api/v1/messages", payload, format="json")
        assert response.status_code == 201, response.content
        answers[payload["id"]] = response.json()
    assert api.patch("/api/v1/messages/m-known", {"text": "исправлено"}, format="json").status_code == 200
    # then: for each stored row, the hand-built answer is the serializer's, in UTC (as the API answers) and in
    # Moscow time (where a date before 1919 has an offset with seconds)
    stored = Message.objects.select_related("chat").prefetch_related("attachments").order_by("pk")
    assert stored.count() == len(answers)
    for message in stored:
        for zone in (datetime.UTC, "Europe/Moscow"):
            with timezone.override(zone):
                assert public_message_data(message) == PublicMessageSerializer(message).data, (message.external_id,
                                                                                               zone)
    # and the API answered with it (the row as it was then: m-known was edited later)
    for message in stored.exclude(external_id__in=["m-known", "m-attachments"]):
        with timezone.override(datetime.UTC):
            assert answers[message.external_id] == PublicMessageSerializer(message).data, message.external_id
    shapes = {m.external_id: public_message_data(m) for m in stored}
    assert shapes["m-reply"]["replyToResolved"] and not shapes["m-reply-unknown"]["replyToResolved"]
    assert [a["type"] for a in shapes["m-attachments"]["attachments"]] == ["image", "location", "contact"]
    assert shapes["m-known"]["editedAt"] and shapes["m-new-chat"]["sentAt"] is None
