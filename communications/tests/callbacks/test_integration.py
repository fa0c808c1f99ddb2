"""End to end: CRM operator API / lifecycle events → outbox → real Celery worker → fake provider."""

import pytest
from standardwebhooks import Webhook as StandardWebhook

from communications.models import Account, Channel, Delivery, InitialSync, Message
from communications.services.conversations import webhook_set
from communications.services.sync import initial_sync_prepare, initial_sync_resume
from communications.services.tokens import integration_token_deactivate
from communications.tests.factories import chat_make, history_messages, provider_setup, signing_secret, tenant_install
from config.testing.processes import wait_until

pytestmark = [pytest.mark.integration]
BASE = "/internal/v1/operator"


def activated(fake, provider):
    """A tenant whose activation calls (getChannels...) the fake has already received."""
    tenant_id, token = tenant_install(provider)
    wait_until(lambda: Channel.objects.filter(tenant_id=tenant_id, provider=provider).count() == 2)
    return tenant_id, token


def scope(tenant_id, provider):
    return {"tenantId": str(tenant_id), "providerCode": provider.code}


def test_operator_send_reaches_provider_authenticated_signed_and_stores_its_message_id(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given: an active integration and a chat
    provider = provider_setup(fake_provider)
    tenant_id, _ = activated(fake_provider, provider)
    chat_make(tenant_id, provider, "chat-1", channel_id="ch-tg")
    # when: the operator sends a message
    response = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(tenant_id, provider), "text": "Здравствуйте!"})
    assert response.status_code == 201, response.json()
    assert response.json()["externalId"].startswith("crm-")
    fake_provider.wait_for(lambda: fake_provider.accepted_list("sendMessage"))
    # then: the provider got one authenticated, signed sendMessage with a stable idempotency key
    request = fake_provider.accepted_list("sendMessage")[0]
    delivery = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert request.headers["x-api-key"] == "api-key-of-the-provider-1234"
    assert request.idempotency_key == str(delivery.idempotency_key)
    assert StandardWebhook(signing_secret(provider)).verify(request.body, request.headers)["text"] == "Здравствуйте!"
    assert request.json["chatId"] == "chat-1" and request.json["channelId"] == "ch-tg"
    # and the provider's message id became the message's external id
    message = Message.objects.get(pk=response.json()["id"])
    wait_until(lambda: Message.objects.get(pk=message.pk).external_id.startswith("prov-"))
    delivery.refresh_from_db()
    assert Message.objects.get(pk=message.pk).external_id == delivery.provider_message_id


def test_edit_right_after_send_reaches_provider_after_the_message_with_its_id(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given: the provider fails the first sendMessage attempts
    provider = provider_setup(fake_provider)
    tenant_id, _ = activated(fake_provider, provider)
    chat_make(tenant_id, provider, "chat-1")
    fake_provider.fail_endpoint("sendMessage", count=2, status=503)
    # when: the operator sends and edits at once
    sent = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(tenant_id, provider), "text": "v1"}).json()
    edited = crm_client.patch(f"{BASE}/messages/{sent['id']}", {**scope(tenant_id, provider), "text": "v2"})
    assert edited.status_code == 200 and edited.json()["text"] == "v2"
    fake_provider.wait_for(lambda: fake_provider.accepted_list("updateMessageContent"))
    # then: the edit arrived after the message and carries the provider's message id
    accepted = [r for r in fake_provider.accepted_list() if r.endpoint in ("sendMessage", "updateMessageContent")]
    assert [r.endpoint for r in accepted] == ["sendMessage", "updateMessageContent"]
    provider_id = Message.objects.get(pk=sent["id"]).external_id
    assert provider_id.startswith("prov-")
    assert accepted[1].json["messageId"] == provider_id and accepted[1].json["text"] == "v2"


def test_deactivated_tenant_gets_no_more_calls_but_disconnect_and_operator_is_refused(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given: the provider is down while the operator sends a message
    provider = provider_setup(fake_provider)
    tenant_id, token = activated(fake_provider, provider)
    chat_make(tenant_id, provider, "chat-1")
    fake_provider.go_away()
    assert crm_client.post(f"{BASE}/chats/chat-1/messages",
                           {**scope(tenant_id, provider), "text": "до отключения"}).status_code == 201
    # when: the token is deactivated and the provider comes back
    integration_token_deactivate(token=token)
    fake_provider.come_back()
    # (deleteWebhook is a call of its own chain: it may arrive after disconnect)
    fake_provider.wait_for(lambda: fake_provider.accepted_list("disconnect") and fake_provider.accepted_list("deleteWebhook"))
    # then: the queued message was cancelled, only disconnect (+deleteWebhook) reached the provider
    send = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert send.status == Delivery.Status.CANCELLED
    assert not fake_provider.accepted_list("sendMessage")
    assert fake_provider.accepted_list("disconnect")[0].json == {"tenantId": str(tenant_id),
                                                                 "reason": "token_deactivated"}
    assert fake_provider.accepted_list("deleteWebhook")
    # and new operator actions are refused with a clear error
    refused = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(tenant_id, provider), "text": "после"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "integration_inactive"
    assert Message.objects.filter(tenant_id=tenant_id).count() == 1


def test_activation_creates_child_accounts_from_get_channels_and_sets_webhook(
        transactional_db, celery_worker, fast, fake_provider, settings):
    # given: a provider with two channels
    settings.COMMUNICATIONS_PUBLIC_API_URL = "https://crm.example/api/v1/"
    provider = provider_setup(fake_provider)
    # when: the tenant's token is issued (activation)
    tenant_id, _ = tenant_install(provider)
    wait_until(lambda: Channel.objects.filter(tenant_id=tenant_id).count() == 2)
    # then: a main account and one active child account per channel
    main = Account.objects.get(tenant_id=tenant_id, provider=provider, kind=Account.Kind.MAIN)
    children = Account.objects.filter(tenant_id=tenant_id, provider=provider, kind=Account.Kind.CHILD, parent=main,
                                      is_active=True)
    assert children.count() == 2
    assert set(Channel.objects.filter(tenant_id=tenant_id).values_list("code", flat=True)) == {"telegram", "whatsapp"}
    fake_provider.wait_for(lambda: fake_provider.accepted_list("setWebhook"))
    assert fake_provider.accepted_list("setWebhook")[0].json["url"] == "https://crm.example/api/v1/"


def test_initial_sync_of_3000_messages_resumes_after_a_failure_and_is_idempotent(
        transactional_db, celery_worker, fast, fake_provider):
    # given: 3000 messages of history; the provider breaks after 4 pages of 250
    fast.INITIAL_SYNC_PAGE_SIZE = 250
    fake_provider.history = history_messages(3000)
    fake_provider.fail_endpoint("getMessageHistory", count=1, status=400, after=4)
    provider = provider_setup(fake_provider)
    # when: the integration is activated
    tenant_id, _ = tenant_install(provider)
    sync = InitialSync.objects.get(tenant_id=tenant_id, provider=provider)
    wait_until(lambda: InitialSync.objects.filter(pk=sync.pk, status=InitialSync.Status.FAILED, pages_done=4).exists(),
               timeout=60)
    # then: it stopped with the first 4 pages imported (their imports go on after the fetch failed) and the cursor
    # at the failed page
    sync.refresh_from_db()
    assert (sync.pages_done, sync.cursor, sync.messages_created) == (4, "1000", 1000)
    assert Message.objects.filter(tenant_id=tenant_id).count() == 1000 and "HTTP 400" in sync.last_error
    # when: a moderator resumes it
    initial_sync_resume(sync=sync)
    wait_until(lambda: InitialSync.objects.get(pk=sync.pk).status == InitialSync.Status.COMPLETED, timeout=60)
    # then: everything is imported exactly once, pages after the failure only
    sync.refresh_from_db()
    assert (sync.messages_created, sync.messages_seen, sync.items_failed) == (3000, 3000, 0)
    assert Message.objects.filter(tenant_id=tenant_id).count() == 3000
    assert Message.objects.filter(tenant_id=tenant_id).values("chat").distinct().count() == 30
    cursors = [r.json["cursor"] for r in fake_provider.requests if r.endpoint == "getMessageHistory"]
    assert cursors == [None, "250", "500", "750", "1000", "1000", "1250", "1500", "1750", "2000", "2250", "2500",
                       "2750"]
    # when: the sync runs a second time (e.g. the token is issued again)
    initial_sync_prepare(tenant_configuration=sync.tenant_configuration)
    initial_sync_resume(sync=InitialSync.objects.get(pk=sync.pk))
    wait_until(lambda: InitialSync.objects.get(pk=sync.pk).status == InitialSync.Status.COMPLETED, timeout=60)
    # then: it read everything again and created nothing new
    sync.refresh_from_db()
    assert (sync.run, sync.messages_seen, sync.messages_created) == (2, 3000, 0)
    assert Message.objects.filter(tenant_id=tenant_id).count() == 3000


def test_app_disabled_sends_disconnect_and_deactivates_main_and_child_accounts(
        transactional_db, celery_worker, fast, fake_provider, marketplace_client):
    # given: an activated tenant with channels
    provider = provider_setup(fake_provider)
    tenant_id, _ = activated(fake_provider, provider)
    # when: the marketplace disables the app
    response = marketplace_client.delete(f"/internal/v1/tenant-configurations?tenantId={tenant_id}"
                                         f"&appCode={provider.code}")
    assert response.status_code == 200, response.json()
    # then: the provider is told, and every account of the tenant is inactive
    fake_provider.wait_for(lambda: fake_provider.accepted_list("disconnect"))
    assert fake_provider.accepted_list("disconnect")[0].json["reason"] == "app_disabled"
    assert Account.objects.filter(tenant_id=tenant_id, provider=provider).count() == 3
    assert not Account.objects.filter(tenant_id=tenant_id, provider=provider, is_active=True).exists()


def test_webhook_events_are_delivered_in_order_and_verify_with_the_webhook_secret(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given: the provider registered a webhook for every event
    provider = provider_setup(fake_provider)
    tenant_id, token = activated(fake_provider, provider)
    chat_make(tenant_id, provider, "chat-1")
    _, _, secret = webhook_set(tenant_id=tenant_id, provider=provider, url=f"{fake_provider.url}/hooks",
                               events=["message.created", "message.updated", "message.status_changed", "chat.seen",
                                       "integration.deactivated"])
    # when: the operator sends, edits, sets a status, reads the chat; then the integration is deactivated
    sent = crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(tenant_id, provider), "text": "a"}).json()
    crm_client.patch(f"{BASE}/messages/{sent['id']}", {**scope(tenant_id, provider), "text": "b"})
    crm_client.post(f"{BASE}/messages/{sent['id']}/status", {**scope(tenant_id, provider), "status": "delivered"})
    crm_client.post(f"{BASE}/chats/chat-1/read", scope(tenant_id, provider))
    hooks = lambda: [r for r in fake_provider.accepted_list() if r.endpoint == "hooks"]  # noqa: E731
    wait_until(lambda: len(hooks()) == 4)
    integration_token_deactivate(token=token)
    wait_until(lambda: len(hooks()) == 5)
    # then: each event is signed with the webhook's secret, in the order it happened
    bodies = [StandardWebhook(secret).verify(r.body, r.headers) for r in hooks()]
    assert [b["type"] for b in bodies] == ["message.created", "message.updated", "message.status_changed",
                                           "chat.seen", "integration.deactivated"]
    assert [r.headers["x-sbercrm-event"] for r in hooks()] == [b["type"] for b in bodies]
    assert bodies[1]["data"]["text"] == "b" and bodies[2]["data"]["status"] == "delivered"
    assert bodies[4]["data"] == {"tenantId": str(tenant_id), "providerCode": provider.code,
                                 "reason": "token_deactivated"}


def _waiting_on(table: str) -> int:
    """Backends waiting for a lock on `table` (imports held by the test's lock)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [table])
        return cursor.fetchone()[0]


def _blocker():
    """A connection of its own, whose transaction holds the table locks a test takes."""
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"], port=params["PORT"],
                           password=params["PASSWORD"])


def test_a_syncs_pages_are_imported_in_parallel_and_fetching_waits_for_them_past_the_pages_ahead(
        transactional_db, celery_worker, fast, fake_provider):
    from communications.models import InitialSyncPage

    # given: 8 pages of 10 messages, and at most 3 pages fetched ahead of their import
    fast.INITIAL_SYNC_PAGE_SIZE, fast.INITIAL_SYNC_PAGES_AHEAD = 10, 3
    # a Celery message per row, so that a row never waits behind the feed's drainers this test holds on purpose (the
    # feed starts a drainer only for a list longer than the drainers it has); the worker's 4 threads are enough
    fast.DELIVERY_FEED = False
    fake_provider.history = history_messages(80)
    provider = provider_setup(fake_provider)
    with _blocker() as blocker:
        # and: another transaction holds the message table against writes: imports wait, fetches never write it
        blocker.execute("LOCK TABLE communications_message IN EXCLUSIVE MODE")
        # when: the integration is activated
        tenant_id, _ = tenant_install(provider)
        sync = InitialSync.objects.get(tenant_id=tenant_id, provider=provider)
        # then: three pages are fetched and kept; their three imports wait at the same time
        wait_until(lambda: _waiting_on("communications_message") == 3, timeout=30)
        # and: the next fetch waits for them: none is queued, the provider was asked for three pages
        wait_until(lambda: InitialSync.objects.filter(pk=sync.pk, pages_fetched=3, delivery=None).exists(), timeout=30)
        assert InitialSyncPage.objects.filter(sync=sync).count() == 3
        assert [r.json["cursor"] for r in fake_provider.requests if r.endpoint == "getMessageHistory"] == [
            None, "10", "20"]
        assert not Message.objects.filter(tenant_id=tenant_id).exists()
        blocker.rollback()  # when: the lock is released
    # then: the sync completes with every message imported once and no answer left kept
    wait_until(lambda: InitialSync.objects.get(pk=sync.pk).status == InitialSync.Status.COMPLETED, timeout=60)
    sync.refresh_from_db()
    assert (sync.pages_fetched, sync.pages_done, sync.messages_seen, sync.messages_created) == (8, 8, 80, 80)
    assert Message.objects.filter(tenant_id=tenant_id).count() == 80
    assert not InitialSyncPage.objects.filter(sync=sync).exists()
    # and: received in the history's order (when their page was fetched), whichever import stored them first
    assert list(Message.objects.filter(tenant_id=tenant_id).order_by("created_at", "id")
                .values_list("external_id", flat=True)) == [f"h-{n}" for n in range(80)]
    assert [r.json["cursor"] for r in fake_provider.requests if r.endpoint == "getMessageHistory"] == [
        None, *(str(n) for n in range(10, 80, 10))]


def test_a_syncs_fetches_and_imports_go_to_the_initial_sync_queue(
        transactional_db, celery_worker, fast, fake_provider, settings):
    import uuid

    from communications.models import InitialSyncPage
    from delivery import engine, feed

    # given: a queue of its own for the initial sync, which no worker here consumes
    settings.INITIAL_SYNC_QUEUE = queue = f"sync-test-{uuid.uuid4().hex[:8]}"
    fake_provider.history = history_messages(5)
    provider = provider_setup(fake_provider)
    waiting = lambda: [item.decode() for item in feed._redis()[0].lrange(feed.keys(queue)[0], 0, -1)]  # noqa: E731
    try:
        # when: the integration is activated (getChannels goes out on the usual queue and starts the sync)
        tenant_id, _ = tenant_install(provider)
        # then: the page's fetch waits in the sync's queue
        wait_until(lambda: InitialSync.objects.filter(tenant_id=tenant_id, delivery__isnull=False).exists())
        sync = InitialSync.objects.get(tenant_id=tenant_id)
        wait_until(lambda: waiting() == [f"{sync.delivery_id}:sync_page"])
        # when: a worker of that queue fetches it; then its import goes to the same queue
        assert engine.delivery_send(delivery_id=sync.delivery_id, kind="sync_page") == "delivered"
        kept = InitialSyncPage.objects.get(sync=sync)
        wait_until(lambda: f"{kept.delivery_id}:sync_import" in waiting())
        assert not Message.objects.filter(tenant_id=tenant_id).exists()
    finally:
        feed._redis()[0].delete(queue, *feed.keys(queue))


def test_a_reply_and_its_quote_in_two_pages_imported_at_the_same_time_are_linked(
        transactional_db, celery_worker, fast, fake_provider):
    # given: two pages of 10; a message of each page quotes one of the other
    fast.INITIAL_SYNC_PAGE_SIZE = 10
    fast.DELIVERY_FEED = False  # as above: rows never wait behind the drainers this test holds
    history = history_messages(20)
    history[0]["replyTo"], history[12]["replyTo"] = "h-15", "h-3"
    fake_provider.history = history
    provider = provider_setup(fake_provider)
    with _blocker() as messages, _blocker() as syncs:
        # and: both pages fetched, their imports held before they store anything
        messages.execute("LOCK TABLE communications_message IN EXCLUSIVE MODE")
        tenant_id, _ = tenant_install(provider)
        wait_until(lambda: _waiting_on("communications_message") == 2, timeout=30)
        wait_until(lambda: InitialSync.objects.filter(tenant_id=tenant_id, fetched_all=True).exists(), timeout=30)
        # when: both store their messages at the same time (neither sees the other's), then end one after the other
        syncs.execute("LOCK TABLE communications_initialsync IN EXCLUSIVE MODE")
        messages.rollback()
        wait_until(lambda: _waiting_on("communications_initialsync") == 2, timeout=30)
        syncs.rollback()
    wait_until(lambda: InitialSync.objects.get(tenant_id=tenant_id).status == InitialSync.Status.COMPLETED, timeout=60)
    # then: both replies are linked to their quotes
    links = dict(Message.objects.filter(tenant_id=tenant_id, reply_to__isnull=False)
                 .values_list("external_id", "reply_to__external_id"))
    assert links == {"h-0": "h-15", "h-12": "h-3"}
