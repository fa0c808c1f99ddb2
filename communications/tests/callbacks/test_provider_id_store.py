"""The `sendMessage` answer's handler (`operator._provider_id_store`, one statement on PostgreSQL since issue 19):
the provider's id becomes the message's external id, and the calls about that message still queued behind it
carry the id before they are sent; an id another message holds is not taken."""

import hashlib

import pytest

from communications.models import Delivery, Message
from communications.services import operator
from delivery import engine

pytestmark = pytest.mark.django_db


def _queued(tenant_id, provider, capture):
    """Two messages in chat-1 and one in chat-2, each edited; nothing sent yet."""
    with capture(execute=False):
        first = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="1")
        second = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="2")
        other = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-2", text="3")
        for message in (first, second, other):
            operator.operator_message_edit(tenant_id=tenant_id, provider=provider, message_id=message.pk,
                                           text=message.text + "!")
    return first, second, other


def _edit_of(message: Message) -> Delivery:
    return Delivery.objects.get(endpoint="updateMessageContent", payload__clientMessageId=message.external_id)


def _send_of(message: Message) -> Delivery:
    return Delivery.objects.get(endpoint="sendMessage", payload__clientMessageId=message.external_id)


def _fake_id(delivery: Delivery) -> str:
    """The id the fake provider answers to this call (config/testing/fake_provider.py)."""
    return "prov-" + hashlib.sha256(str(delivery.idempotency_key).encode()).hexdigest()[:16]


def test_queued_calls_about_the_message_carry_its_provider_id_once_it_is_delivered(
        chat, django_capture_on_commit_callbacks):
    tenant_id, provider = chat
    first, second, other = _queued(tenant_id, provider, django_capture_on_commit_callbacks)
    edits = {message.pk: _edit_of(message) for message in (first, second, other)}
    sent = _send_of(first)
    # when the first message's sendMessage is delivered
    with django_capture_on_commit_callbacks(execute=False):
        assert engine.delivery_send(delivery_id=sent.pk, kind="provider") == "delivered"
    # then the message has the provider's id, and only its own queued edit learned it
    sent.refresh_from_db()
    assert sent.provider_message_id == _fake_id(sent)
    assert Message.objects.get(pk=first.pk).external_id == sent.provider_message_id
    edit = Delivery.objects.get(pk=edits[first.pk].pk)
    assert edit.payload == {**edits[first.pk].payload, "messageId": sent.provider_message_id}
    assert edit.status == Delivery.Status.PENDING and edit.updated_at > edits[first.pk].updated_at
    for message in (second, other):
        untouched = Delivery.objects.get(pk=edits[message.pk].pk)
        assert untouched.payload == edits[message.pk].payload and untouched.payload["messageId"] is None
        assert Message.objects.get(pk=message.pk).external_id == message.external_id


def test_an_id_held_by_another_message_is_not_taken_and_the_queued_calls_keep_waiting_for_it(
        chat, django_capture_on_commit_callbacks):
    tenant_id, provider = chat
    first, second, _ = _queued(tenant_id, provider, django_capture_on_commit_callbacks)
    sent = _send_of(first)
    # given another message already holds the id the provider will answer (an echo through the public API)
    Message.objects.filter(pk=second.pk).update(external_id=_fake_id(sent))
    before = _edit_of(first)
    # when the call is delivered
    with django_capture_on_commit_callbacks(execute=False):
        assert engine.delivery_send(delivery_id=sent.pk, kind="provider") == "delivered"
    # then neither message changes, the edit carries no id, and the conflict is on the row for the moderator
    assert Message.objects.get(pk=first.pk).external_id == first.external_id
    assert Message.objects.get(pk=second.pk).external_id == _fake_id(sent)
    assert Delivery.objects.get(pk=before.pk).payload == before.payload and before.payload["messageId"] is None
    sent.refresh_from_db()
    assert sent.status == Delivery.Status.DELIVERED and "уже занят другим сообщением" in sent.last_error
