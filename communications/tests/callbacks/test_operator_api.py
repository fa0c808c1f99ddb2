"""Operator API and lifecycle services without a worker: what is written to the outbox, and the errors."""

import datetime
import uuid

import pytest

from communications.models import Delivery, InitialSync, Message, ProviderSigningSecret
from communications.services.conversations import message_create
from communications.services.providers import provider_register
from communications.services.tokens import integration_token_deactivate
from communications.tests.factories import chat_make, operator_scope, provider_setup, tenant_install
from config.testing.fake_provider import ENDPOINTS

BASE = "/internal/v1/operator"


def test_activation_queues_get_channels_and_set_webhook_and_prepares_the_sync(setup):
    provider, tenant_id, _ = setup
    endpoints = list(Delivery.objects.filter(tenant_id=tenant_id).order_by("pk").values_list("endpoint", flat=True))
    assert endpoints == ["getChannels", "setWebhook"]
    assert InitialSync.objects.get(tenant_id=tenant_id, provider=provider).status == InitialSync.Status.WAITING


def test_send_writes_message_and_ordered_delivery_in_one_transaction(setup, crm_client):
    provider, tenant_id, _ = setup
    response = crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": " как есть "})
    assert response.status_code == 201
    body = response.json()
    assert body["text"] == " как есть " and body["direction"] == "outgoing" and body["chatId"] == "chat-1"
    delivery = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert delivery.ordering_key == "chat-1" and delivery.on_delivered == "operator.message_sent"
    assert delivery.payload["clientMessageId"] == body["externalId"]


def test_bad_input_names_the_field_and_writes_nothing(setup, crm_client):
    provider, tenant_id, _ = setup
    empty = crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": ""})
    unknown_field = crm_client.post(f"{BASE}/chats/chat-1/messages",
                                    {**operator_scope(provider, tenant_id), "text": "x", "txt": "y"})
    unknown_chat = crm_client.post(f"{BASE}/chats/nope/messages", {**operator_scope(provider, tenant_id), "text": "x"})
    unknown_provider = crm_client.post(f"{BASE}/chats/chat-1/messages",
                                       {"tenantId": str(tenant_id), "providerCode": "nope", "text": "x"})
    assert empty.status_code == 400 and "text" in empty.json()["error"]["fields"]
    assert unknown_field.status_code == 400 and "txt" in unknown_field.json()["error"]["fields"]
    assert unknown_chat.status_code == 404
    assert unknown_provider.status_code == 404 and "providerCode" in unknown_provider.json()["error"]["fields"]
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
    assert not Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage").exists()


def test_only_the_crm_service_may_call(setup, marketplace_client, api_client):
    provider, tenant_id, _ = setup
    url = f"{BASE}/chats?tenantId={tenant_id}&providerCode={provider.code}"
    assert api_client.get(url).status_code == 401
    assert marketplace_client.get(url).status_code == 403


def test_list_chats_with_unread_filter_and_pagination(setup, crm_client):
    provider, tenant_id, _ = setup
    message_create(tenant_id=tenant_id, provider=provider,
                   data={"external_id": "in-1", "chat": {"external_id": "chat-2"}, "text": "привет"})
    query = f"tenantId={tenant_id}&providerCode={provider.code}"
    everything = crm_client.get(f"{BASE}/chats?{query}").json()
    unread = crm_client.get(f"{BASE}/chats?{query}&unread=true").json()
    paged = crm_client.get(f"{BASE}/chats?{query}&page_size=1").json()
    other_tenant = crm_client.get(f"{BASE}/chats?tenantId={uuid.uuid4()}&providerCode={provider.code}").json()
    assert everything["count"] == 2 and other_tenant["count"] == 0
    assert [(c["id"], c["unreadCount"]) for c in unread["results"]] == [("chat-2", 1)]
    assert len(paged["results"]) == 1 and paged["next"]
    messages = crm_client.get(f"{BASE}/chats/chat-2/messages?{query}&direction=incoming").json()
    assert [m["externalId"] for m in messages["results"]] == ["in-1"]


def test_chat_list_page_is_the_serializers_answer_for_each_chat(setup, crm_client):
    """Issue 19: the page is built from rows by hand (`operator_chat_data`), not by the serializer from instances:
    the same answer for a chat with a channel, one without, unread counts, a title with quotes and times."""
    from django.utils import timezone

    from communications.api.internal.operator.serializers import OperatorChatSerializer
    from communications.models import Account, Channel, Chat
    from communications.selectors.conversations import chat_list_for_operator

    provider, tenant_id, _ = setup
    main = Account.objects.get_or_create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.MAIN,
                                         defaults={"activated_at": timezone.now()})[0]
    channel = Channel.objects.create(tenant_id=tenant_id, provider=provider, external_id="ch-wa", code="whatsapp",
                                     account=Account.objects.create(tenant_id=tenant_id, provider=provider,
                                                                    kind=Account.Kind.CHILD, parent=main,
                                                                    activated_at=timezone.now()))
    Chat.objects.filter(tenant_id=tenant_id, external_id="chat-1").update(channel=channel, title='«Ромашка» "ООО"',
                                                                          type="group")
    for number in range(3):
        message_create(tenant_id=tenant_id, provider=provider,
                       data={"external_id": f"in-{number}", "chat": {"external_id": "chat-1"}, "text": "привет"})
    query = f"tenantId={tenant_id}&providerCode={provider.code}"
    answer = crm_client.get(f"{BASE}/chats?{query}")
    assert answer.status_code == 200
    with timezone.override(datetime.UTC):  # as the API answers (config/api/utc.py)
        expected = OperatorChatSerializer(chat_list_for_operator(tenant_id=tenant_id, provider=provider),
                                          many=True).data
    assert answer.json()["results"] == expected
    chats = {c["id"]: c for c in expected}
    assert [(c["channelId"], c["channelCode"], c["unreadCount"]) for c in (chats["chat-1"], chats["chat-2"])] == [
        ("ch-wa", "whatsapp", 3), (None, None, 0)]
    assert (chats["chat-1"]["title"], chats["chat-1"]["type"]) == ('«Ромашка» "ООО"', "group")


def test_message_list_page_is_the_serializers_answer_for_each_message(setup, crm_client):
    """Issue 19: a page of a chat's messages is built by hand (`operator_messages_data`): the same answer as the
    serializer for incoming and outgoing messages, a reply, an edited one and one with an attachment."""
    from django.utils import timezone

    from communications.api.internal.operator.serializers import OperatorMessageSerializer
    from communications.models import Attachment

    provider, tenant_id, _ = setup
    first, _ = message_create(tenant_id=tenant_id, provider=provider,
                              data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "вопрос"})
    message_create(tenant_id=tenant_id, provider=provider,
                   data={"external_id": "out-1", "chat": {"external_id": "chat-1"}, "text": "ответ",
                         "direction": "outgoing", "reply_to": "in-1",
                         "sent_at": datetime.datetime(2026, 11, 20, 10, 15, tzinfo=datetime.UTC)})
    located, _ = message_create(tenant_id=tenant_id, provider=provider,
                                data={"external_id": "in-2", "chat": {"external_id": "chat-1"}, "text": ""})
    Attachment.objects.create(tenant_id=tenant_id, provider=provider, message=located, position=0, type="location",
                              latitude=55.75, longitude=37.62, location_title="Офис")
    Message.objects.filter(pk=first.pk).update(text="вопрос (изменён)", edited_at=timezone.now())
    query = f"tenantId={tenant_id}&providerCode={provider.code}"
    answer = crm_client.get(f"{BASE}/chats/chat-1/messages?{query}")
    assert answer.status_code == 200
    stored = (Message.objects.filter(chat__tenant_id=tenant_id, chat__external_id="chat-1").select_related("chat")
              .prefetch_related("attachments").order_by("-created_at", "-id"))
    with timezone.override(datetime.UTC):  # as the API answers (config/api/utc.py)
        expected = OperatorMessageSerializer(stored, many=True).data
    assert answer.json()["results"] == expected
    by_id = {m["externalId"]: m for m in expected}
    assert by_id["out-1"]["replyTo"] == first.pk and by_id["in-1"]["editedAt"] and by_id["out-1"]["sentAt"]
    assert [a["type"] for a in by_id["in-2"]["attachments"]] == ["location"] and by_id["in-1"]["attachments"] == []


def test_message_list_of_another_tenants_chat_is_not_found(setup):
    """The operator's message list selects by the chat alone: a chat outside the given scope is refused, not read."""
    from communications.models import Chat
    from communications.selectors.conversations import message_list_for_operator
    from config.errors import NotFoundError

    provider, tenant_id, _ = setup
    chat = Chat.objects.get(tenant_id=tenant_id, external_id="chat-1")
    with pytest.raises(NotFoundError):
        message_list_for_operator(tenant_id=uuid.uuid4(), provider=provider, chat=chat)
    assert list(message_list_for_operator(tenant_id=tenant_id, provider=provider, chat=chat)) == []


def test_edit_of_an_incoming_message_is_refused(setup, crm_client):
    provider, tenant_id, _ = setup
    incoming, _ = message_create(tenant_id=tenant_id, provider=provider,
                                 data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "a"})
    response = crm_client.patch(f"{BASE}/messages/{incoming.pk}", {**operator_scope(provider, tenant_id), "text": "b"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "message_not_outgoing"


def test_status_and_read_queue_calls_about_the_chat_in_order(setup, crm_client):
    provider, tenant_id, _ = setup
    incoming, _ = message_create(tenant_id=tenant_id, provider=provider,
                                 data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "a"})
    status = crm_client.post(f"{BASE}/messages/{incoming.pk}/status", {**operator_scope(provider, tenant_id), "status": "read"})
    failed_without_error = crm_client.post(f"{BASE}/messages/{incoming.pk}/status",
                                           {**operator_scope(provider, tenant_id), "status": "failed"})
    read = crm_client.post(f"{BASE}/chats/chat-1/read", operator_scope(provider, tenant_id))
    assert status.status_code == 200 and status.json()["status"] == "read"
    assert failed_without_error.status_code == 400 and "error" in failed_without_error.json()["error"]["fields"]
    assert read.json() == {"chatId": "chat-1", "updated": 1}
    calls = Delivery.objects.filter(tenant_id=tenant_id, ordering_key="chat-1").order_by("pk")
    assert [(d.endpoint, d.payload.get("messageId")) for d in calls] == [("updateMessageStatus", "in-1"),
                                                                         ("markChatRead", None)]


def test_broadcast_uses_one_bulk_call_when_configured(setup, crm_client):
    provider, tenant_id, _ = setup
    response = crm_client.post(f"{BASE}/broadcasts", {**operator_scope(provider, tenant_id), "text": "акция",
                                                      "chatIds": ["chat-1", "chat-2"]})
    assert response.status_code == 201 and response.json()["endpoint"] == "bulkMessages"
    bulk = Delivery.objects.get(tenant_id=tenant_id, endpoint="bulkMessages")
    assert [m["chatId"] for m in bulk.payload["messages"]] == ["chat-1", "chat-2"]
    assert not Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage").exists()
    # an edit before the provider acknowledged the bulk call is refused (it could overtake it)
    first = response.json()["messages"][0]["id"]
    early = crm_client.patch(f"{BASE}/messages/{first}", {**operator_scope(provider, tenant_id), "text": "другой"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "message_not_acknowledged"


def test_broadcast_without_bulk_endpoint_sends_one_message_per_chat(db, fake_provider, crm_client):
    provider = provider_setup(fake_provider, endpoints=[e for e in ENDPOINTS if e != "bulkMessages"])
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    chat_make(tenant_id, provider, "chat-2")
    response = crm_client.post(f"{BASE}/broadcasts", {**operator_scope(provider, tenant_id), "text": "акция",
                                                      "chatIds": ["chat-1", "chat-2"]})
    assert response.json()["endpoint"] == "sendMessage"
    assert sorted(Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage")
                  .values_list("ordering_key", flat=True)) == ["chat-1", "chat-2"]


def test_deactivation_cancels_queue_and_refuses_actions_until_a_new_token(setup, crm_client):
    provider, tenant_id, token = setup
    crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": "a"})
    integration_token_deactivate(token=token)
    assert set(Delivery.objects.filter(tenant_id=tenant_id, endpoint__in=["sendMessage", "getChannels"])
               .values_list("status", flat=True)) == {Delivery.Status.CANCELLED}
    assert Delivery.objects.get(tenant_id=tenant_id, endpoint="disconnect").status == Delivery.Status.PENDING
    assert InitialSync.objects.get(tenant_id=tenant_id).status == InitialSync.Status.CANCELLED
    refused = crm_client.post(f"{BASE}/chats/chat-1/read", operator_scope(provider, tenant_id))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "integration_inactive"


def test_app_disabled_refuses_actions(setup, crm_client, marketplace_client):
    provider, tenant_id, _ = setup
    marketplace_client.delete(f"/internal/v1/tenant-configurations?tenantId={tenant_id}&appCode={provider.code}")
    refused = crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": "a"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "integration_disabled"
    assert Delivery.objects.get(tenant_id=tenant_id, endpoint="disconnect").payload["reason"] == "app_disabled"


def test_registered_provider_has_a_secret_and_the_marketplace_sees_a_new_one_once(db, marketplace_client, crm_client):
    provider, _ = provider_register(code="chatapp", label="ChatApp")
    first = ProviderSigningSecret.objects.get(provider=provider)
    response = marketplace_client.post("/internal/v1/providers/chatapp/signing-secret")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and secret != first.secret
    assert ProviderSigningSecret.objects.filter(provider=provider).count() == 2
    assert crm_client.post("/internal/v1/providers/chatapp/signing-secret").status_code == 403
    assert marketplace_client.post("/internal/v1/providers/nope/signing-secret").status_code == 404


def test_admin_shows_initial_sync_progress(setup, admin_client):
    provider, tenant_id, _ = setup
    page = admin_client.get("/admin/communications/initialsync/").content.decode()
    assert str(tenant_id) in page and "Ожидает каналов" in page


def test_options_describes_every_operator_endpoint_without_an_error(crm_client):
    paths = [f"{BASE}/chats", f"{BASE}/chats/chat-1/messages", f"{BASE}/chats/chat-1/read", f"{BASE}/broadcasts",
             f"{BASE}/messages/1/status", f"{BASE}/uploads"]
    for path in paths:
        response = crm_client.options(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
    # an action's body is described by the serializer it validates
    described = crm_client.options(f"{BASE}/chats/chat-1/messages").json()
    assert "text" in described["actions"]["POST"]


def test_send_answers_as_the_serializer_and_queues_the_call_and_the_event_from_one_read(setup, crm_client):
    """Issue 19: the send reads the provider, the integration, the chat with its channel and the webhook in one
    statement, writes the message with a plain INSERT and builds the answer by hand: the same row, call, event
    and answer as the ORM path gave."""
    from django.utils import timezone

    from communications.api.internal.operator.serializers import OperatorMessageSerializer
    from communications.models import Account, Channel, Chat, Webhook

    provider, tenant_id, _ = setup
    main = Account.objects.get_or_create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.MAIN,
                                         defaults={"activated_at": timezone.now()})[0]
    account = Account.objects.create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.CHILD, parent=main,
                                     activated_at=timezone.now())
    channel = Channel.objects.create(tenant_id=tenant_id, provider=provider, external_id="ch-tg", code="telegram",
                                     account=account)
    Chat.objects.filter(tenant_id=tenant_id, external_id="chat-1").update(channel=channel)
    Webhook.objects.create(tenant_id=tenant_id, provider=provider, url="https://p.example/hook", secret="whsec_x",
                           events=["message.created"])
    quoted, _ = message_create(tenant_id=tenant_id, provider=provider,
                               data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "что?"})
    # when
    response = crm_client.post(f"{BASE}/chats/chat-1/messages", {
        **operator_scope(provider, tenant_id), "text": "Ответ", "operatorId": " op-7 ", "replyTo": quoted.pk},
        format="json")
    # then: the answer is the serializer's of the stored row
    assert response.status_code == 201, response.json()
    stored = Message.objects.select_related("chat").prefetch_related("attachments").get(pk=response.json()["id"])
    with timezone.override(datetime.UTC):  # as the API answers (config/api/utc.py)
        assert response.json() == OperatorMessageSerializer(stored).data
    assert (stored.direction, stored.seen_flag, stored.status, stored.sender_external_id, stored.reply_to_id,
            stored.reply_to_external_id) == ("outgoing", True, "sent", "op-7", quoted.pk, "in-1")
    assert stored.external_id.startswith("crm-") and stored.created_at == stored.updated_at
    # and the call names the channel and the quoted message, in the chat's chain; the event follows it
    call = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert (call.payload["channelId"], call.payload["replyTo"], call.payload["clientMessageId"],
            call.ordering_key) == ("ch-tg", "in-1", stored.external_id, "chat-1")
    event = Delivery.objects.get(tenant_id=tenant_id, kind=Delivery.Kind.WEBHOOK)
    assert (event.endpoint, event.ordering_key, event.payload["data"]["clientMessageId"]) == (
        "message.created", "chat-1", stored.external_id)
    assert event.pk > call.pk


def test_send_without_a_subscribed_webhook_queues_no_event(setup, crm_client):
    from communications.models import Webhook

    provider, tenant_id, _ = setup
    Webhook.objects.create(tenant_id=tenant_id, provider=provider, url="https://p.example/hook", secret="whsec_x",
                           events=["chat.seen"])
    response = crm_client.post(f"{BASE}/chats/chat-2/messages", {**operator_scope(provider, tenant_id), "text": "a"})
    assert response.status_code == 201 and response.json()["chatId"] == "chat-2"
    assert list(Delivery.objects.filter(tenant_id=tenant_id, endpoint__in=["sendMessage", "message.created"])
                .values_list("endpoint", flat=True)) == ["sendMessage"]


@pytest.mark.parametrize("change, code", [
    ("token expired", "integration_inactive"),
    ("token replaced", "integration_inactive"),
    ("app disabled", "integration_disabled"),
    ("provider off", "integration_disabled"),
])
def test_send_is_refused_when_the_integration_is_off_and_writes_nothing(setup, crm_client, change, code):
    from datetime import timedelta

    from django.utils import timezone

    from communications.models import IntegrationToken, TenantConfiguration

    provider, tenant_id, _ = setup
    tokens = IntegrationToken.objects.filter(tenant_id=tenant_id, provider=provider)
    if change == "token expired":
        tokens.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif change == "token replaced":
        tokens.update(status=IntegrationToken.Status.REPLACED)
    elif change == "app disabled":
        TenantConfiguration.objects.filter(tenant_id=tenant_id).update(status=TenantConfiguration.Status.DISABLED)
    else:
        type(provider).objects.filter(pk=provider.pk).update(is_active=False)
    response = crm_client.post(f"{BASE}/chats/chat-1/messages", {**operator_scope(provider, tenant_id), "text": "a"})
    assert response.status_code == 409 and response.json()["error"]["code"] == code
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
    assert not Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage").exists()
