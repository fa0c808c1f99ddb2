"""Issue 15: outcome rules of provider calls (docs/provider-calls.md, «Исходы»).

A permanent refusal (4xx) of a call about a message fails that message, releases its chat and cancels the
calls that depend on it; farewell calls stand outside chat order and a 4xx to them is final and quiet;
nothing is sent for a tenant after `disconnect`; deactivation during the recording of `getChannels` is 200.
"""

import threading

import pytest
from django.db import connection, transaction

from communications.models import Delivery, IntegrationToken, Message, TenantConfiguration, Webhook
from communications.services import deliveries, operator
from communications.services.tokens import integration_token_deactivate, integration_token_issue
from communications.tests.factories import chat_make, provider_setup, tenant_install
from config.testing.fake_provider import Reaction
from delivery import engine

BASE = "/internal/v1/operator"


@pytest.fixture
def live(transactional_db, fast, fake_provider):
    """An active integration (committed; eager Celery sends at commit) with chat-1 and a webhook."""
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider)
    Webhook.objects.create(tenant_id=tenant_id, provider=provider, url=fake_provider.url + "/hook",
                           secret="whsec_dGVzdC1zZWNyZXQtb2YtdGhlLXdlYmhvb2s=",
                           events=list(Webhook.Event.values))
    return provider, tenant_id


def scope(provider, tenant_id):
    return {"tenantId": str(tenant_id), "providerCode": provider.code}


def test_refused_send_message_fails_the_message_visibly_and_releases_the_chat(live, fake_provider, crm_client):
    provider, tenant_id = live
    fake_provider.fail_endpoint("sendMessage", 1, 422, body={"error": "chat is archived"})
    # when the provider refuses the first message of the chat
    first = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(provider, tenant_id), "text": "Раз"},
                            format="json")
    assert first.status_code == 201
    # then the operator sees it failed, with the provider's answer
    listed = crm_client.get(f"{BASE}/chats/chat-1/messages", scope(provider, tenant_id)).json()
    failed = next(m for m in listed["results"] if m["id"] == first.json()["id"])
    assert failed["status"] == "failed"
    assert "422" in failed["error"] and "chat is archived" in failed["error"]
    # and a webhook event says so
    events = [r.json for r in fake_provider.requests if r.path.endswith("/hook")]
    assert any(e["type"] == "message.status_changed" and e["data"]["status"] == "failed" for e in events)
    # and the refused call is final without blocking the chat: the next message goes out at once
    refused = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert refused.status == Delivery.Status.REFUSED
    second = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(provider, tenant_id), "text": "Два"},
                             format="json")
    assert second.status_code == 201
    assert [r.json["text"] for r in fake_provider.accepted_list("sendMessage")] == ["Два"]


def test_calls_about_a_refused_message_are_cancelled_with_a_reason(live, fake_provider):
    provider, tenant_id = live
    fake_provider.fail_endpoint("sendMessage", 1, 400, body={"error": "bad text"})
    # given the send, its edit and a status change queued together (nothing sent before the commit)
    with transaction.atomic():
        message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1",
                                                 text="Черновик")
        operator.operator_message_edit(tenant_id=tenant_id, provider=provider, message_id=message.pk,
                                       text="Исправлено")
        operator.operator_chat_mark_read(tenant_id=tenant_id, provider=provider, chat_id="chat-1")
    # then the edit is cancelled with a reason, and the unrelated call of the chat goes out
    edit = Delivery.objects.get(tenant_id=tenant_id, endpoint="updateMessageContent")
    assert edit.status == Delivery.Status.CANCELLED
    assert "отклонено провайдером" in edit.last_error
    assert Delivery.objects.get(tenant_id=tenant_id, endpoint="markChatRead").status == Delivery.Status.DELIVERED
    assert not fake_provider.accepted_list("updateMessageContent")
    assert Message.objects.get(pk=message.pk).status == Message.Status.FAILED


def test_refused_edit_fails_the_message(live, fake_provider):
    provider, tenant_id = live
    message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1",
                                             text="Было")
    fake_provider.fail_endpoint("updateMessageContent", 1, 409, body={"error": "too old to edit"})
    operator.operator_message_edit(tenant_id=tenant_id, provider=provider, message_id=message.pk, text="Стало")
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and "too old to edit" in message.status_error


def test_disconnect_refused_with_404_is_quiet_and_does_not_block_the_next_activation(live, fake_provider):
    provider, tenant_id = live
    fake_provider.fail_endpoint("disconnect", 1, 404, body={"error": "unknown tenant"})
    fake_provider.fail_endpoint("deleteWebhook", 1, 410, body={"error": "gone"})
    integration_token_deactivate(token=IntegrationToken.objects.get(tenant_id=tenant_id))
    farewell = Delivery.objects.filter(tenant_id=tenant_id, endpoint__in=["disconnect", "deleteWebhook"])
    assert {d.status for d in farewell} == {Delivery.Status.REFUSED}
    assert all(d.ordering_key == "" for d in farewell)  # outside the lifecycle chain
    # when the tenant activates again
    fake_provider.requests.clear()
    integration_token_issue(tenant_id=tenant_id, provider=provider)
    # then getChannels and setWebhook go out at once, no moderator needed
    sent = [r.endpoint for r in fake_provider.requests if r.status == 200]
    assert "getChannels" in sent and "setWebhook" in sent


def test_a_new_activation_supersedes_a_farewell_still_retrying(live, fake_provider):
    provider, tenant_id = live
    fake_provider.fail_endpoint("disconnect", 50, 503)  # eager Celery: retried at once until dead
    integration_token_deactivate(token=IntegrationToken.objects.get(tenant_id=tenant_id))
    integration_token_issue(tenant_id=tenant_id, provider=provider)
    disconnect = Delivery.objects.get(tenant_id=tenant_id, endpoint="disconnect")
    assert disconnect.status == Delivery.Status.CANCELLED  # a late disconnect would undo the new activation


def test_removing_the_app_after_the_token_was_deactivated_sends_nothing(live, fake_provider, marketplace_client):
    provider, tenant_id = live
    integration_token_deactivate(token=IntegrationToken.objects.get(tenant_id=tenant_id))
    seen = len(fake_provider.requests)
    response = marketplace_client.delete(f"/internal/v1/tenant-configurations?tenantId={tenant_id}"
                                         f"&appCode={provider.code}")
    assert response.status_code in (200, 204), response.content
    assert len(fake_provider.requests) == seen
    assert not Delivery.objects.filter(tenant_id=tenant_id, status=Delivery.Status.PENDING).exists()
    assert TenantConfiguration.objects.get(tenant_id=tenant_id).status == TenantConfiguration.Status.DISABLED


def test_nothing_is_sent_for_a_tenant_after_disconnect(live, fake_provider):
    provider, tenant_id = live
    tenant_configuration = TenantConfiguration.objects.get(tenant_id=tenant_id)
    # given a call written before the deactivation but not dispatched (e.g. lost with the broker)
    with transaction.atomic():
        late = deliveries.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead",
                                           payload={"tenantId": str(tenant_id), "chatId": "chat-1"},
                                           ordering_key="chat-1")
        Delivery.objects.filter(pk=late.pk).update(status=Delivery.Status.DEAD)
    integration_token_deactivate(token=IntegrationToken.objects.get(tenant_id=tenant_id))
    Delivery.objects.filter(pk=late.pk).update(status=Delivery.Status.PENDING)  # e.g. a moderator's retry
    seen = len(fake_provider.requests)
    assert engine.delivery_send(delivery_id=late.pk) == "cancelled"
    assert len(fake_provider.requests) == seen


@pytest.mark.postgres
def test_an_edit_queued_while_the_send_answer_was_recorded_carries_the_provider_id(live, fake_provider):
    # Issue 23 item 7: the id is resolved when the call is sent, not when it is queued.
    from communications import provider_contract as contract

    provider, tenant_id = live
    operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Было")
    sent = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert sent.status == Delivery.Status.DELIVERED and sent.provider_message_id
    # given the edit as the race leaves it: written with the temporary id only
    with transaction.atomic():
        deliveries.delivery_enqueue(
            tenant_configuration=TenantConfiguration.objects.get(tenant_id=tenant_id),
            endpoint="updateMessageContent", ordering_key="chat-1",
            payload=contract.update_content_body(tenant_id=tenant_id, chat_id="chat-1", message_id=None,
                                                 client_message_id=sent.payload["clientMessageId"], text="Стало"))
    # then the provider receives its own id
    (edit,) = fake_provider.accepted_list("updateMessageContent")
    assert edit.json["messageId"] == sent.provider_message_id


def _five_channels():
    return {"channels": [{"id": f"ch-{i}", "code": f"code{i}", "name": f"Канал {i}"} for i in range(5)]}


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["token", "uninstall"])
def test_deactivation_while_get_channels_is_recorded_answers_200_first_try(
        transactional_db, fast, fake_provider, crm_client, marketplace_client, how):
    fake_provider.on("getChannels", Reaction(body=_five_channels()))
    provider = provider_setup(fake_provider)
    failures = []
    for _ in range(20):
        # given a fresh activation: its commit sends getChannels at once (eager Celery) in the "worker" thread
        def worker():
            try:
                tenant_install(provider)
            finally:
                connection.close()

        before = len(fake_provider.requests)
        thread = threading.Thread(target=worker)
        thread.start()
        fake_provider.wait_for(lambda: any(r.endpoint == "getChannels" and r.status == 200
                                           for r in fake_provider.requests[before:]))
        tenant_id = next(r.json["tenantId"] for r in fake_provider.requests[before:] if r.endpoint == "getChannels")
        # when the tenant deactivates right after the answer, while it is being recorded
        if how == "token":
            jti = IntegrationToken.objects.get(tenant_id=tenant_id).jti
            response = crm_client.post(f"/internal/v1/integration-tokens/{jti}/deactivate")
        else:
            response = marketplace_client.delete(f"/internal/v1/tenant-configurations?tenantId={tenant_id}"
                                                 f"&appCode={provider.code}")
        thread.join(timeout=30)
        if response.status_code not in (200, 204):
            failures.append(response.status_code)
    # then never 503
    assert failures == []
