"""A poisoned item in provider data that arrives many at a time (history pages, bulk) is skipped and
reported; the rest is imported; the initial sync always ends with its counts. PostgreSQL + a worker."""

import json

import pytest

from communications.models import Channel, InitialSync, Message
from communications.tests.factories import provider_setup, tenant_install
from config.testing.processes import wait_until

pytestmark = pytest.mark.integration


def _message(n: int, **chat) -> dict:
    return {"id": f"h-{n}", "text": f"сообщение {n}", "senderId": "u-1",
            "chat": {"id": "hc-1", "channelId": "ch-tg", "title": "Чат",
                     "participants": [{"id": "u-1", "name": "Клиент"}], **chat}}


def test_poisoned_history_items_are_skipped_and_the_sync_completes(transactional_db, celery_worker, fast,
                                                                   fake_provider):
    # given: 7 history messages; one has U+0000 in its chat metadata, one a lone surrogate in a participant key
    fake_provider.history = [_message(n) for n in range(5)]
    fake_provider.history.insert(2, _message(90, id="hc-9", metadata={"source": "crm\u0000"}))
    fake_provider.history.insert(4, _message(91, id="hc-8", participants=[
        {"id": "u-2", "name": "Клиент", "metadata": {"k\ud800": 1}}]))
    # and getChannels lists a channel whose metadata the database can't store
    fake_provider.channels = [{"id": "ch-bad", "code": "telegram", "metadata": {"x": "\u0000"}},
                              *fake_provider.channels]
    provider = provider_setup(fake_provider)
    # when: the integration is activated
    tenant_id, _ = tenant_install(provider)
    wait_until(lambda: InitialSync.objects.get(tenant_id=tenant_id).status != InitialSync.Status.RUNNING
               and InitialSync.objects.get(tenant_id=tenant_id).pages_done > 0, timeout=60)
    # then: the sync completed with its counts; the 5 good messages are in, the 2 bad ones reported
    sync = InitialSync.objects.get(tenant_id=tenant_id)
    assert sync.status == InitialSync.Status.COMPLETED
    assert (sync.messages_seen, sync.messages_created, sync.items_failed) == (7, 5, 2)
    assert sorted(Message.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == [
        f"h-{n}" for n in range(5)]
    assert "сообщение 4" in sync.last_error and "chat.participants.0.metadata.k\\\\ud800" in sync.last_error
    assert len(fake_provider.accepted_list("getMessageHistory")) == 1
    # and the getChannels answer was recorded with the bad character replaced: every channel is connected
    assert set(Channel.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == {
        "ch-bad", "ch-tg", "ch-wa"}
    assert Channel.objects.get(tenant_id=tenant_id, external_id="ch-bad").metadata == {"x": "\ufffd"}


def test_bulk_skips_the_poisoned_item_and_imports_the_rest(db):
    from rest_framework.test import APIClient

    from communications.tests.factories import ProviderFactory, integration_create

    # given
    integration = integration_create(provider=ProviderFactory(code="prov-bulk"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {integration.value}")
    items = [{"id": "b-1", "text": "ok", "chat": {"id": "c-1"}},
             {"id": "b-2", "text": "ok", "chat": {"id": "c-2", "metadata": {"a": ["x\u0000"]}}},
             {"id": "b-3\ud800", "text": "ok", "chat": {"id": "c-1"}},
             {"id": "b-4", "text": "ok", "chat": {"id": "c-1"}}]
    # when
    response = client.generic("POST", "/api/v1/bulk/messages", json.dumps({"messages": items}).encode(),
                              content_type="application/json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["errors"]) == (2, 2)
    assert body["results"][1] == {"index": 1, "id": "b-2", "result": "error",
                                  "errors": {"chat.metadata.a.0": ["Строка содержит символ U+0000, его нельзя сохранить."]}}
    assert body["results"][2]["id"] == "b-3\\ud800" and "id" in body["results"][2]["errors"]
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["b-1", "b-4"]


def test_a_provider_answer_with_unstorable_text_is_recorded_with_it_replaced(fast, fake_provider):
    from communications import clients
    from config.testing.fake_provider import Reaction

    # given: a provider whose answer carries U+0000 and a lone surrogate
    fake_provider.on("sendMessage", Reaction(body={"messageId": "p\u0000", "note": {"k\ud800": ["x"]}}))
    # when
    result = clients.post_json(url=fake_provider.endpoints()["sendMessage"], payload={}, idempotency_key="k-1")
    # then: what is stored gets U+FFFD; the answer as sent stays available to judge items
    assert result.json == {"messageId": "p\ufffd", "note": {"k\ufffd": ["x"]}}
    assert result.json_as_sent == {"messageId": "p\u0000", "note": {"k\ud800": ["x"]}}
    assert clients.CallResult(status_code=500, headers={}, body=b"oops\x00", latency_ms=1).excerpt == "oops\ufffd"
