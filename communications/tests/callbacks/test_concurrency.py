"""Real concurrency on PostgreSQL: lock order of operator actions, deactivation and broadcasts; lost races."""

import threading
import time

import pytest
from django.db import connection, transaction

from communications.models import Chat, Delivery, IntegrationToken, Message, MessageEdit, TenantConfiguration
from communications.services import deliveries, operator
from communications.services.conversations import message_set_status, webhook_set
from communications.services.tokens import integration_token_deactivate
from communications.tests.factories import DeliveryFactory, chat_make, provider_setup, tenant_install
from config.testing.concurrency import another_transaction, holding, wait_for_a_lock_wait
from delivery import engine


@pytest.fixture
def chat(transactional_db, fast, fake_provider):
    """A tenant's active integration (committed: the threads below see it) and its chat-1."""
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider)
    return provider, tenant_id, IntegrationToken.objects.get(tenant_id=tenant_id)


def message_locked_then(message, lock_next):
    """Another transaction locks `message`; once someone waits for a lock, it calls `lock_next()`."""
    return another_transaction(lambda: Message.objects.select_for_update().get(pk=message.pk), then=lock_next)


@pytest.mark.postgres
def test_deactivation_waits_for_an_operator_action_in_flight_so_disconnect_is_the_last_call(chat):
    # given: an operator send holds its transaction open after the integration check
    provider, tenant_id, token = chat
    checked, release, deactivated = threading.Event(), threading.Event(), threading.Event()

    def operator_send():
        try:
            with transaction.atomic():
                operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1",
                                               text="Последнее слово")
                checked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def deactivate():
        try:
            with transaction.atomic():
                integration_token_deactivate(token=token)
            deactivated.set()
        finally:
            connection.close()

    sender = threading.Thread(target=operator_send)
    sender.start()
    assert checked.wait(timeout=30)
    # when: the tenant deactivates the token meanwhile
    deactivator = threading.Thread(target=deactivate)
    deactivator.start()
    # then: the deactivation waits on the token row until the send commits ...
    assert not deactivated.wait(timeout=1.5)
    release.set()
    sender.join(timeout=30)
    deactivator.join(timeout=30)
    assert deactivated.is_set()
    # ... so the send is queued before `disconnect`, and it is cancelled by it unless a worker was quicker
    calls = list(Delivery.objects.filter(tenant_id=tenant_id, endpoint__in=["sendMessage", "disconnect"])
                 .order_by("pk").values_list("endpoint", "status"))
    assert [endpoint for endpoint, _ in calls] == ["sendMessage", "disconnect"]
    assert calls[0][1] in (Delivery.Status.CANCELLED, Delivery.Status.DELIVERED)


@pytest.mark.postgres
def test_a_send_during_a_deactivation_in_flight_waits_for_it_and_is_refused(chat):
    """The send's one read share-locks the token in a subquery (issue 19): it waits for the deactivation's row
    lock, reads the token again once that commits, and refuses; nothing is queued after `disconnect`."""
    provider, tenant_id, token = chat
    locked, release, answers = threading.Event(), threading.Event(), []

    def deactivate():
        try:
            with transaction.atomic():
                integration_token_deactivate(token=token)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def operator_send():
        try:
            operator.operator_message_send(tenant_id=tenant_id, provider=provider.code, chat_id="chat-1", text="Ещё")
            answers.append("sent")
        except Exception as exc:
            answers.append(getattr(exc, "code", repr(exc)))
        finally:
            connection.close()

    # given: a deactivation holds the token row, not yet committed
    deactivator = threading.Thread(target=deactivate)
    deactivator.start()
    assert locked.wait(timeout=30)
    # when: the operator sends meanwhile
    sender = threading.Thread(target=operator_send)
    sender.start()
    with connection.cursor() as cursor:
        wait_for_a_lock_wait(cursor)  # the send waits on the token row
    release.set()
    deactivator.join(timeout=30)
    sender.join(timeout=30)
    # then: refused as inactive, and no call or message after the deactivation
    assert answers == ["integration_inactive"]
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
    assert not Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage").exists()


@pytest.mark.postgres
def test_broadcasts_to_the_same_chats_in_opposite_order_never_deadlock(transactional_db, fast, fake_provider):
    # given: no bulkMessages, so a broadcast is one ordered sendMessage per chat (one chain lock each)
    from config.testing.fake_provider import ENDPOINTS

    provider = provider_setup(fake_provider, endpoints=[e for e in ENDPOINTS if e != "bulkMessages"])
    tenant_id, _ = tenant_install(provider)
    webhook_set(tenant_id=tenant_id, provider=provider, url=f"{fake_provider.url}/events",
                events=["message.created"])  # each send also queues an event on the chat's webhook chain
    chats = [f"chat-{i}" for i in range(4)]
    for chat_id in chats:
        chat_make(tenant_id, provider, chat_id)
    errors, rounds = [], 8

    def broadcast(order, barrier):
        try:
            barrier.wait(timeout=30)
            operator.operator_broadcast(tenant_id=tenant_id, provider=provider, chat_ids=order, text="Акция")
        except Exception as exc:  # a deadlock would surface here
            errors.append(exc)
        finally:
            connection.close()

    # when: two operators broadcast to the same chats, listed in opposite orders, at the same moment
    for _ in range(rounds):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=broadcast, args=(order, barrier)) for order in (chats, chats[::-1])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    # then: every broadcast went through
    assert errors == []
    queued = Delivery.objects.filter(tenant_id=tenant_id)
    assert queued.filter(endpoint="sendMessage").count() == 2 * rounds * len(chats)
    assert queued.filter(endpoint="message.created").count() == 2 * rounds * len(chats)


@pytest.mark.postgres
def test_request_that_loses_a_deadlock_gets_503_with_retry_after_and_changes_nothing(chat, crm_client):
    # given: an outgoing message
    provider, tenant_id, token = chat
    message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Было")
    # when: the operator edits the message meanwhile (it holds a share lock on the token and waits for the
    # message); the other transaction then wants the token; PostgreSQL breaks the deadlock by aborting the edit
    with message_locked_then(message, lambda: IntegrationToken.objects.select_for_update().get(pk=token.pk)):
        response = crm_client.patch(f"/internal/v1/operator/messages/{message.pk}",
                                    {"tenantId": str(tenant_id), "providerCode": provider.code, "text": "Стало"},
                                    format="json")
    # then: a retryable answer, not a 500, and the edit left nothing behind
    assert response.status_code == 503, response.json()
    assert response["Retry-After"] == "1" and response.json()["error"]["code"] == "concurrent_update"
    message.refresh_from_db()
    assert message.text == "Было" and not MessageEdit.objects.exists()
    assert not Delivery.objects.filter(tenant_id=tenant_id, endpoint="updateMessageContent").exists()



@pytest.mark.postgres
@pytest.mark.parametrize(("action", "endpoint"), [("edit", "updateMessageContent"), ("status", "updateMessageStatus")])
def test_an_action_on_a_message_while_a_reply_quoting_it_holds_the_chain_waits_and_both_succeed(
        chat, crm_client, fake_provider, action, endpoint):
    # given: an outgoing message, and a reply quoting it whose transaction holds the chat's chain lock (its
    # foreign-key check takes a key-share lock on the quoted message only at commit)
    provider, tenant_id, _ = chat
    message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Было")
    scope = {"tenantId": str(tenant_id), "providerCode": provider.code}

    def reply():
        operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Ответ",
                                       reply_to_id=message.pk)

    # when: the operator edits the message (or sets its status) meanwhile
    with another_transaction(reply):  # the reply commits once the action waits
        if action == "edit":
            response = crm_client.patch(f"/internal/v1/operator/messages/{message.pk}", {**scope, "text": "Стало"},
                                        format="json")
        else:
            response = crm_client.post(f"/internal/v1/operator/messages/{message.pk}/status",
                                       {**scope, "status": "delivered"}, format="json")
    # then: no deadlock: the action waited for the chain before it locked the message, and went in after the reply
    assert response.status_code == 200, response.json()
    message.refresh_from_db()
    assert (message.text, message.status) == (("Стало", "sent") if action == "edit" else ("Было", "delivered"))
    chain = ["sendMessage", "sendMessage", endpoint]
    assert list(Delivery.objects.filter(tenant_id=tenant_id, ordering_key="chat-1").order_by("pk")
                .values_list("endpoint", flat=True)) == chain
    fake_provider.wait_for(lambda: len([r for r in fake_provider.requests if r.endpoint in chain]) == 3)
    sent = [r for r in fake_provider.requests if r.endpoint in chain]
    assert [r.endpoint for r in sent] == chain
    assert sent[1].json["replyTo"] == sent[2].json["messageId"] == message.external_id


@pytest.mark.postgres
def test_a_status_and_a_mark_read_waiting_for_the_same_chain_never_deadlock(chat):
    # given: an unread incoming message; a send holds the chat's chain lock
    provider, tenant_id, _ = chat
    incoming = Message.objects.create(tenant_id=tenant_id, provider=provider, chat=Chat.objects.get(),
                                      external_id="in-1", direction=Message.Direction.INCOMING, text="Вопрос")
    answers = []

    def run(action):
        try:
            action()
            answers.append("ok")
        except Exception as exc:  # a deadlock would surface here
            answers.append(exc)
        finally:
            connection.close()

    set_status = threading.Thread(target=run, args=(lambda: operator.operator_message_set_status(
        tenant_id=tenant_id, provider=provider, message_id=incoming.pk, status="read"),))
    mark_read = threading.Thread(target=run, args=(lambda: operator.operator_chat_mark_read(
        tenant_id=tenant_id, provider=provider, chat_id="chat-1"),))
    # when: a status change of the message queues for the chain, then a mark-read of the chat queues behind it
    with another_transaction(lambda: operator.operator_message_send(tenant_id=tenant_id, provider=provider,
                                                                    chat_id="chat-1", text="Сейчас"),
                             until_waiters=2):  # the send commits once both wait
        set_status.start()
        with connection.cursor() as cursor:
            wait_for_a_lock_wait(cursor)
        mark_read.start()
    set_status.join(timeout=30)
    mark_read.join(timeout=30)
    # then: both went through, in the chain's order (neither locked the message before the chain)
    assert answers == ["ok", "ok"]
    incoming.refresh_from_db()
    assert incoming.status == "read" and incoming.seen_flag
    assert list(Delivery.objects.filter(tenant_id=tenant_id, ordering_key="chat-1").order_by("pk")
                .values_list("endpoint", flat=True)) == ["sendMessage", "updateMessageStatus", "markChatRead"]


@pytest.mark.postgres
def test_provider_answer_is_recorded_even_when_recording_loses_a_deadlock(chat, fake_provider, caplog):
    # given: a queued sendMessage of an operator message (rows written directly: nothing dispatched)
    provider, tenant_id, _ = chat
    tenant_configuration = TenantConfiguration.objects.get(tenant_id=tenant_id)
    message = Message.objects.create(tenant_id=tenant_id, provider=provider, chat=Chat.objects.get(),
                                     external_id="crm-race", direction=Message.Direction.OUTGOING, text="Гонка")
    delivery = DeliveryFactory(tenant_configuration=tenant_configuration, ordering_key="race-chat",
                               payload={"chatId": "chat-1", "clientMessageId": "crm-race", "text": "Гонка"},
                               on_delivered="operator.message_sent")
    # when: the worker's attempt records the answer: it holds the delivery row and its provider-id store waits
    # for the message; the other transaction then wants the delivery row
    with message_locked_then(message, lambda: Delivery.objects.select_for_update().get(pk=delivery.pk)):
        outcome = engine.delivery_send(delivery_id=delivery.pk)
    # then: PostgreSQL aborted the first recording; the second stored the answer and the provider's id,
    # with no second call
    delivery.refresh_from_db()
    assert "recording the answer lost a lock race" in caplog.text
    assert outcome == "delivered" and delivery.status == Delivery.Status.DELIVERED
    assert list(delivery.attempt_log.values_list("number", "outcome")) == [(1, "success")]
    assert [r.endpoint for r in fake_provider.requests].count("sendMessage") == 1
    message.refresh_from_db()
    assert message.external_id == delivery.provider_message_id != "crm-race" and delivery.last_error == ""


@pytest.mark.postgres
def test_concurrent_signing_secret_rotations_leave_one_current_secret(chat):
    # given: a rotation whose transaction is still open
    provider, _, _ = chat
    issued, release = threading.Event(), threading.Event()

    def rotate(hold: bool):
        try:
            with transaction.atomic():
                deliveries.provider_signing_secret_issue(provider=provider)
                issued.set()
                if hold:
                    release.wait(timeout=30)
        finally:
            connection.close()

    first = threading.Thread(target=rotate, args=(True,))
    first.start()
    assert issued.wait(timeout=30)
    # when: a second rotation starts meanwhile, then the first commits
    second = threading.Thread(target=rotate, args=(False,))
    second.start()
    time.sleep(0.5)
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    # then: the second ran after the first and moved its secret into the overlap: one current secret
    secrets = provider.signing_secrets.order_by("created_at")
    assert secrets.count() == 3
    assert [secret.expires_at is None for secret in secrets] == [False, False, True]


@pytest.mark.postgres
def test_recording_a_success_waits_for_a_deactivation_before_it_locks_the_delivery_row(chat):
    """Engine round 5: the one-statement record takes the integration's share locks before the delivery row (the
    lock order of `integration_lock_sql`), so a deactivation holding the token runs wholly before it: the row stays
    free meanwhile and the answer is recorded once the deactivation commits."""
    from delivery.kinds import Attempt
    from delivery.outcomes import SUCCESS

    provider, tenant_id, token = chat
    with transaction.atomic():
        message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Гонка")
        connection.run_on_commit = []  # queued, not dispatched: this test makes the attempt
    delivery = Delivery.objects.get(endpoint="sendMessage", payload__clientMessageId=message.external_id)
    claimed, number, started_at = engine._claim(delivery.pk, "provider")
    words = []

    def record():
        try:
            answer = Attempt(SUCCESS, status_code=200, response_json={"messageId": "prov-race"}, external_id="prov-race")
            words.append(engine._record_until_stored(claimed, number, started_at, answer))
        finally:
            connection.close()

    recorder = threading.Thread(target=record)
    with holding(lambda: IntegrationToken.objects.select_for_update().get(pk=token.pk)):  # as a deactivation does
        recorder.start()
        with connection.cursor() as cursor:
            wait_for_a_lock_wait(cursor)  # the record waits on the token ...
            with transaction.atomic():  # ... and has not locked the delivery row
                cursor.execute("SELECT id FROM communications_delivery WHERE id = %s FOR UPDATE NOWAIT", [delivery.pk])
                assert cursor.fetchone() == (delivery.pk,)
    recorder.join(timeout=30)
    assert words == ["delivered"]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.provider_message_id == "prov-race"
    assert Message.objects.get(pk=message.pk).external_id == "prov-race"


@pytest.mark.postgres
def test_a_reply_quoting_a_message_does_not_wait_for_a_change_of_that_message(chat):
    # given: another transaction is changing a message's status and holds its row lock (as a refused call's record
    # does before it takes the chat's chain lock for the webhook event)
    provider, tenant_id, _ = chat
    message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Было")

    def change():
        message_set_status(message=Message.objects.get(pk=message.pk), status="delivered")

    with holding(change) as committed:
        # when: a reply quoting it is written meanwhile
        reply = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1",
                                               text="Ответ", reply_to_id=message.pk)
        # then: its foreign-key check (a key-share lock) did not wait for that change to commit
        change_still_open = not committed.is_set()
    assert change_still_open
    assert Message.objects.get(pk=reply.pk).reply_to_id == message.pk
    assert Message.objects.get(pk=message.pk).status == "delivered"
