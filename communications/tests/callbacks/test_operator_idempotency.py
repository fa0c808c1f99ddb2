"""Idempotent operator writes: `Idempotency-Key` on send, broadcast, edit, status and read.

The same key and body get the same answer and no second provider call; another body under the same
key gets 422 `idempotency_key_reused`; the key is stored in the action's own transaction."""

import pytest
from rest_framework.test import APIClient

from communications.models import Delivery, Message, OperatorRequest
from communications.tests.factories import chat_make, operator_scope, provider_setup, tenant_install
from config.testing.concurrency import at_once
from config.testing.processes import wait_until

BASE = "/internal/v1/operator"




def _calls(tenant_id) -> int:
    return Delivery.objects.filter(tenant_id=tenant_id, kind=Delivery.Kind.PROVIDER).count()


def _outgoing(crm_client, provider, tenant_id) -> int:
    return crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": "первое"},
                           format="json").json()["id"]


WRITES = {  # method, path, body, and another request under the same key: (path, body)
    "send": ("post", "/chats/chat-1/messages", {"text": "Здравствуйте"}, ("/chats/chat-1/messages", {"text": "Иное"})),
    "broadcast": ("post", "/broadcasts", {"text": "Всем", "chatIds": ["chat-1", "chat-2"]},
                  ("/broadcasts", {"text": "Всем", "chatIds": ["chat-2"]})),
    "edit": ("patch", "/messages/{id}", {"text": "Исправлено"}, ("/messages/{id}", {"text": "Иное"})),
    "status": ("post", "/messages/{id}/status", {"status": "delivered"}, ("/messages/{id}/status", {"status": "read"})),
    "read": ("post", "/chats/chat-1/read", {}, ("/chats/chat-2/read", {})),
}


@pytest.mark.parametrize("write", WRITES, ids=WRITES)
def test_repeat_with_the_same_key_gets_the_same_answer_and_queues_nothing(write, setup, crm_client):
    provider, tenant_id, _ = setup
    method, path, body, _ = WRITES[write]
    url = BASE + path.format(id=_outgoing(crm_client, provider, tenant_id))
    body = {**operator_scope(provider, tenant_id), **body}
    headers = {"HTTP_IDEMPOTENCY_KEY": f"key-{write}"}
    # given: the first call
    first = getattr(crm_client, method)(url, body, format="json", **headers)
    assert first.status_code in (200, 201), first.json()
    calls, messages = _calls(tenant_id), Message.objects.count()
    # when: the CRM retries it with the same key
    again = getattr(crm_client, method)(url, body, format="json", **headers)
    # then: the same answer, nothing new queued or stored
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert (_calls(tenant_id), Message.objects.count()) == (calls, messages)
    assert OperatorRequest.objects.filter(key=f"key-{write}").count() == 1


@pytest.mark.parametrize("write", WRITES, ids=WRITES)
def test_another_body_under_the_same_key_is_422_and_writes_nothing(write, setup, crm_client):
    provider, tenant_id, _ = setup
    method, path, body, (other_path, other_body) = WRITES[write]
    message_id = _outgoing(crm_client, provider, tenant_id)
    headers = {"HTTP_IDEMPOTENCY_KEY": f"key-{write}"}
    first = getattr(crm_client, method)(BASE + path.format(id=message_id), {**operator_scope(provider, tenant_id), **body},
                                        format="json", **headers)
    assert first.status_code in (200, 201)
    calls, messages = _calls(tenant_id), Message.objects.count()
    # when: the same key comes with another body or for another chat
    other = getattr(crm_client, method)(BASE + other_path.format(id=message_id),
                                        {**operator_scope(provider, tenant_id), **other_body}, format="json", **headers)
    # then
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["error"]["fields"]
    assert (_calls(tenant_id), Message.objects.count()) == (calls, messages)


def test_a_failed_write_does_not_keep_the_key(setup, crm_client):
    provider, tenant_id, _ = setup
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-retry-after-404"}
    # given: a send to a chat that does not exist yet (404): the transaction rolls back with the key
    missing = crm_client.post(f"{BASE}/chats/chat-9/messages", {**operator_scope(provider, tenant_id), "text": "x"},
                              format="json", **headers)
    assert missing.status_code == 404
    assert not OperatorRequest.objects.filter(key="key-retry-after-404").exists()
    # when: the chat appears and the CRM retries with the same key
    chat_make(tenant_id, provider, "chat-9")
    retried = crm_client.post(f"{BASE}/chats/chat-9/messages", {**operator_scope(provider, tenant_id), "text": "x"},
                              format="json", **headers)
    # then: it runs now
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_keys_are_per_caller_and_bounded(setup, crm_client):
    from config.tests.factories import service_client

    provider, tenant_id, _ = setup
    body = {**operator_scope(provider, tenant_id), "text": "x"}
    url = f"{BASE}/chats/chat-1/messages"
    # a key longer than 255 characters or not printable ASCII: 400 naming the header, nothing sent
    for bad in ("k" * 256, "ключ", "a\tb"):
        refused = crm_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=bad)
        assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["error"]["fields"], bad
    assert not Message.objects.filter(tenant_id=tenant_id, direction="outgoing").exists()
    # another CRM account's key of the same name is its own
    other_crm = service_client("svc-crm-2", "crm")
    first = crm_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="shared-name")
    second = other_crm.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="shared-name")
    assert first.status_code == second.status_code == 201 and first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second


@pytest.mark.integration
def test_a_repeated_send_reaches_the_provider_once(transactional_db, celery_worker, fast, fake_provider,
                                                   crm_client):
    # given: an active integration; the fake counts every sendMessage it receives
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    url, body = f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": "Один раз"}
    # when: the CRM sends three times with the same key, all at the same moment (a retry on a timeout)
    def send():
        client = APIClient()
        client.credentials(**crm_client._credentials)
        return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-retry-1")

    answers = at_once(send, send, send)
    # then: the same answer every time, one message, and one sendMessage at the provider
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert all(a.json() == answers[0].json() for a in answers)
    assert sorted(a.get("Idempotent-Replayed", "") for a in answers) == ["", "true", "true"]
    fake_provider.wait_for(lambda: fake_provider.accepted_list("sendMessage"))
    wait_until(lambda: not Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage")
               .exclude(status=Delivery.Status.DELIVERED).exists())
    assert Message.objects.filter(tenant_id=tenant_id, direction="outgoing").count() == 1
    assert len([r for r in fake_provider.requests if r.endpoint == "sendMessage"]) == 1


def test_keys_older_than_the_retention_are_pruned(setup, crm_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from communications.tasks import operator_requests_prune_task

    # given: two keyed sends, one of them 25 hours ago
    provider, tenant_id, _ = setup
    settings.OPERATOR_IDEMPOTENCY_KEY_HOURS = 24
    for key in ("old", "recent"):
        crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": key}, format="json",
                        HTTP_IDEMPOTENCY_KEY=key)
    OperatorRequest.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    # when: the beat task runs
    assert operator_requests_prune_task() == 1
    # then: the old key is forgotten (a retry runs again), the recent one still replays
    assert list(OperatorRequest.objects.values_list("key", flat=True)) == ["recent"]
