"""The operator's plain send writes its message and `sendMessage` call in one statement (issue 19, round 2,
services/operator.py `_message_and_call_insert`, config/sql.py `insert_pair`): the same rows, the same chain lock."""

import threading

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from communications.models import Delivery, IntegrationToken, Message, TenantConfiguration
from communications.services import deliveries, operator
from communications.tests.factories import chat_make, provider_setup, tenant_install
from config.observability.request_id import request_id_reset, request_id_set
from config.sql import insert_pair
from config.testing.concurrency import wait_for_a_lock_wait
from delivery import engine

# what differs between any two rows by nature: keys, times, the receiver's idempotency key
VOLATILE = {"id", "idempotency_key", "created_at", "updated_at", "next_attempt_at"}


def _row(delivery: Delivery) -> dict:
    return {f.attname: getattr(delivery, f.attname) for f in Delivery._meta.concrete_fields if f.attname not in VOLATILE}


@pytest.mark.django_db
def test_the_call_is_the_row_and_the_publication_delivery_enqueue_makes(chat, django_capture_on_commit_callbacks):
    tenant_id, provider = chat
    token = request_id_set("req-operator-1")
    try:
        # when: a plain send, and the same call queued by the engine's own path
        with django_capture_on_commit_callbacks(execute=False) as sent:
            message = operator.operator_message_send(tenant_id=tenant_id, provider=provider.code, chat_id="chat-1",
                                                     text="Привет", operator_id="op-1")
        call = Delivery.objects.get(endpoint="sendMessage")
        with django_capture_on_commit_callbacks(execute=False) as queued:
            reference = deliveries.delivery_enqueue(
                tenant_configuration=TenantConfiguration.objects.get(tenant_id=tenant_id), endpoint="sendMessage",
                payload=call.payload, ordering_key="chat-1", on_delivered="operator.message_sent")
    finally:
        request_id_reset(token)
    reference.refresh_from_db()
    # then: every column the same but the row's own, a new row is due now, and it is published the same way
    assert _row(call) == _row(reference)
    assert call.request_id == "req-operator-1" and call.status == Delivery.Status.PENDING and call.attempts == 0
    assert call.idempotency_key != reference.idempotency_key
    assert call.created_at == call.updated_at and abs(call.next_attempt_at - call.created_at).total_seconds() < 5
    assert call.payload == {"tenantId": str(tenant_id), "chatId": "chat-1", "channelId": None,
                            "clientMessageId": message.external_id, "text": "Привет", "operatorId": "op-1"}
    assert len(sent) == len(queued) == 1
    assert (sent[0].func, sent[0].args[1:], sent[0].keywords) == (queued[0].func, queued[0].args[1:], queued[0].keywords)
    assert (sent[0].args[0], queued[0].args[0]) == (call.pk, reference.pk)
    # and the message is the row the answer shows
    stored = Message.objects.get(pk=message.pk)
    assert (stored.external_id, stored.text, stored.sender_external_id, stored.direction, stored.status,
            stored.seen_flag, stored.chat.external_id) == (message.external_id, "Привет", "op-1", "outgoing", "sent",
                                                           True, "chat-1")
    assert stored.created_at == message.created_at


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_statement_takes_the_lock_the_engine_takes_for_the_chain(chat):
    tenant_id, provider = chat
    lock = engine.chain_lock_key(Delivery.Kind.PROVIDER, tenant_id, provider.pk, "chat-1")
    held = ("SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks WHERE locktype = 'advisory' "  # the key
            "AND pid = pg_backend_pid() AND granted")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(held)
        before = {key for (key,) in cursor.fetchall()}  # the setup's own, in the test's transaction
        engine.chain_lock(Delivery.Kind.PROVIDER, tenant_id, provider.pk, "chat-1")
        cursor.execute(held)
        assert {key for (key,) in cursor.fetchall()} - before == {lock}


@pytest.mark.postgres
def test_a_send_waits_for_the_chain_and_its_call_is_numbered_after_the_holders_commit(transactional_db, fast,
                                                                                     fake_provider):
    """The chain lock is taken inside the statement BEFORE the call's row (and its id) is made: a send queued while
    another action of the chat holds the chain gets an id after every row that action writes until it commits."""
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider)
    holding, release, failures = threading.Event(), threading.Event(), []

    def holder():
        try:
            with transaction.atomic():
                operator.operator_chat_mark_read(tenant_id=tenant_id, provider=provider, chat_id="chat-1")
                holding.set()
                assert release.wait(timeout=30)
                # written after the send started waiting: an id drawn before the lock would be below this one
                operator.operator_chat_mark_read(tenant_id=tenant_id, provider=provider, chat_id="chat-1")
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def sender():
        try:
            operator.operator_message_send(tenant_id=tenant_id, provider=provider.code, chat_id="chat-1", text="Я")
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    # given: an action of chat-1 holds the chain, not committed yet
    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert holding.wait(timeout=30)
    # when: the operator sends into the chat meanwhile
    threads.append(threading.Thread(target=sender))
    threads[1].start()
    with connection.cursor() as cursor:
        wait_for_a_lock_wait(cursor, event="advisory")  # the send waits on the chain lock ...
    assert not Message.objects.filter(tenant_id=tenant_id, text="Я").exists()
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    # then: ... and its call comes after both of the holder's calls, in id order
    assert failures == []
    chain = Delivery.objects.filter(kind=Delivery.Kind.PROVIDER, tenant_id=tenant_id, ordering_key="chat-1")
    assert list(chain.order_by("pk").values_list("endpoint", flat=True)) == ["markChatRead", "markChatRead",
                                                                               "sendMessage"]


@pytest.mark.django_db
def test_insert_pair_fills_defaults_per_row_and_a_failed_row_writes_neither(chat):
    tenant_id, provider = chat
    tenant_configuration = TenantConfiguration.objects.get(tenant_id=tenant_id)
    chat_row = Message._meta.get_field("chat").related_model.objects.get(tenant_id=tenant_id, external_id="chat-1")

    def pair(external_id: str, url: str, locked: bool = True):
        return insert_pair(
            Message, {"tenant_id": tenant_id, "provider_id": provider.pk, "chat_id": chat_row.pk,
                      "external_id": external_id, "direction": "outgoing", "text": "т"},
            Delivery, {"tenant_id": tenant_id, "provider_id": provider.pk,
                       "tenant_configuration_id": tenant_configuration.pk, "endpoint": "sendMessage", "url": url,
                       "next_attempt_at": chat_row.created_at},
            lock=engine.chain_lock_key("provider", tenant_id, provider.pk, "x")
            if locked and connection.vendor == "postgresql" else None)

    first, second = pair("crm-a", "https://provider.example/a"), pair("crm-b", "https://provider.example/b", False)
    messages = Message.objects.filter(pk__in=[first[0], second[0]]).order_by("pk")
    calls = Delivery.objects.filter(pk__in=[first[1], second[1]]).order_by("pk")
    assert [m.external_id for m in messages] == ["crm-a", "crm-b"] and all(m.status == "sent" for m in messages)
    assert [c.url for c in calls] == ["https://provider.example/a", "https://provider.example/b"]
    assert all((c.status, c.attempts, c.payload, c.kind, c.ordering_key) == ("pending", 0, {}, "provider", "")
               for c in calls)
    assert calls[0].idempotency_key != calls[1].idempotency_key  # a callable default: one value per row
    # a row the database refuses (the message's id is taken): neither row stays
    before = Delivery.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        pair("crm-a", "https://provider.example/c")
    assert Delivery.objects.count() == before and Message.objects.filter(external_id="crm-a").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("locked", [True, False])
def test_insert_pair_with_a_guard_writes_both_rows_only_when_the_guard_gives_a_row(chat, locked):
    tenant_id, provider = chat
    tenant_configuration = TenantConfiguration.objects.get(tenant_id=tenant_id)
    chat_row = Message._meta.get_field("chat").related_model.objects.get(tenant_id=tenant_id, external_id="chat-1")
    guard_sql, guard_params = operator._token_guard(tenant_id, provider.pk, connection)

    def pair(external_id: str):
        return insert_pair(
            Message, {"tenant_id": tenant_id, "provider_id": provider.pk, "chat_id": chat_row.pk,
                      "external_id": external_id, "direction": "outgoing", "text": "т"},
            Delivery, {"tenant_id": tenant_id, "provider_id": provider.pk,
                       "tenant_configuration_id": tenant_configuration.pk, "endpoint": "sendMessage",
                       "url": "https://provider.example/a", "next_attempt_at": chat_row.created_at},
            lock=engine.chain_lock_key("provider", tenant_id, provider.pk, "x")
            if locked and connection.vendor == "postgresql" else None,
            guard=(guard_sql, guard_params))

    # the token is usable: both rows, linked as without a guard
    message_pk, call_pk = pair("crm-guarded")
    assert Message.objects.get(pk=message_pk).external_id == "crm-guarded"
    assert Delivery.objects.get(pk=call_pk).tenant_configuration_id == tenant_configuration.pk
    # the token is gone: neither row, and None
    IntegrationToken.objects.filter(tenant_id=tenant_id).update(status=IntegrationToken.Status.DEACTIVATED)
    before = (Message.objects.count(), Delivery.objects.count())
    assert pair("crm-refused") is None
    assert (Message.objects.count(), Delivery.objects.count()) == before


@pytest.mark.postgres
def test_a_send_to_a_tenant_with_a_webhook_writes_its_event_in_the_same_transaction(transactional_db, chat):
    """A plain send needs no transaction of its own; with a webhook it writes the message, the call and the
    `message.created` event together, so an event the database refuses leaves none of them (committed for real here:
    no test transaction around the send)."""
    from communications.services.conversations import webhook_set

    tenant_id, provider = chat
    webhook_set(tenant_id=tenant_id, provider=provider, url="https://crm.example/hook", events=["message.created"])
    message = operator.operator_message_send(tenant_id=tenant_id, provider=provider.code, chat_id="chat-1",
                                             text="С вебхуком")
    event = Delivery.objects.get(kind=Delivery.Kind.WEBHOOK, endpoint="message.created")
    assert event.payload["data"]["clientMessageId"] == message.external_id
    # when: the database refuses the event's row
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION pg_temp.refuse() RETURNS trigger AS $$ BEGIN "
                       "RAISE EXCEPTION 'refused' USING ERRCODE = '22000'; END $$ LANGUAGE plpgsql")
        cursor.execute("CREATE TRIGGER refuse_events BEFORE INSERT ON communications_delivery FOR EACH ROW "
                       "WHEN (NEW.kind = 'webhook') EXECUTE FUNCTION pg_temp.refuse()")
    try:
        with pytest.raises(DataError):
            operator.operator_message_send(tenant_id=tenant_id, provider=provider.code, chat_id="chat-1",
                                           text="Потеря")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_events ON communications_delivery")
    # then: neither the message nor its call stayed
    assert not Message.objects.filter(text="Потеря").exists()
    assert Delivery.objects.filter(endpoint="sendMessage").count() == 1
