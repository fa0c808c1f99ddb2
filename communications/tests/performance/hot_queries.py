"""The hot queries of issue 19, built exactly as the code builds them, for EXPLAIN checks
(communications/tests/performance/test_explain.py)."""

from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from communications.api.internal.operator.serializers import OperatorChatRows
from communications.models import Chat, Delivery, Message
from communications.selectors.conversations import chat_list_for_operator, message_list_for_operator
from communications.services import operator
from communications.services.retention import _prunable
from config.sql import statement_inlined
from delivery import engine
from delivery.kinds import kind_get


def sweep_due(limit: int = 500) -> tuple[str, list]:
    """delivery/engine.py deliveries_sweep: rows due without a live task."""
    now = timezone.now()
    grace = now - timedelta(seconds=60)
    sync_grace = grace - timedelta(seconds=30)
    due = (Q(status=Delivery.Status.PENDING, synchronous=False, next_attempt_at__lte=grace)
           | Q(status=Delivery.Status.PENDING, synchronous=True, next_attempt_at__lte=sync_grace)
           | Q(status=Delivery.Status.IN_PROGRESS, lease_expires_at__lte=now))
    not_recently_swept = Q(swept_at__isnull=True) | Q(swept_at__lte=grace)
    return statement_inlined(Delivery.objects.filter(due & not_recently_swept).order_by("next_attempt_at", "pk")
                             .values_list("pk", "kind")[:limit])


def claim(delivery: Delivery) -> tuple[str, list]:
    """delivery/engine.py _claim_in_transaction: the row, locked, with its chain check and its kind's gate facts, as
    compiled once (config/sql.py `Compiled`: its constants written into the SQL)."""
    return engine.claim_query(kind_get(delivery.kind)).statement(delivery.pk)


def claim_at_once(delivery: Delivery) -> tuple[str, list]:
    """delivery/engine.py _claim_at_once: the usual claim as one UPDATE … RETURNING around the claim's query."""
    now = timezone.now()
    query, statement = engine.claim_at_once_statement(kind_get(delivery.kind), delivery.pk, now,
                                                      now + timedelta(seconds=60))
    return query.statement(delivery.pk, **statement)


def chain_next(delivery: Delivery) -> tuple[str, list]:
    """delivery/engine.py _finish: the next pending row of the chain becomes due (one UPDATE)."""
    return engine.chain_next_sql(delivery)


def message_id_resolve(delivery: Delivery):
    """communications/services/deliveries.py _resolve_message_id: a later call about a message (an edit, a read mark)
    looks up the provider's id in the chain's delivered sendMessage."""
    return (engine.chain(delivery).filter(endpoint="sendMessage", status=Delivery.Status.DELIVERED, pk__lt=delivery.pk,
                                          payload__clientMessageId="crm-x")
            .exclude(provider_message_id="").values_list("provider_message_id", flat=True)[:1])


def record_success(delivery: Delivery) -> tuple[str, list]:
    """delivery/engine.py _record_success_at_once: a `sendMessage` answered with the provider's id, recorded by one
    statement (the lock CTEs, the row, its attempt, the message's id and the calls queued behind it, the next row)."""
    from delivery.kinds import Attempt
    from delivery.outcomes import SUCCESS

    delivery.on_delivered = "operator.message_sent"
    delivery.payload = {"chatId": delivery.ordering_key, "clientMessageId": "crm-x"}
    attempt = Attempt(SUCCESS, status_code=200, latency_ms=5, excerpt='{"messageId": "prov-x"}',
                      response_json={"messageId": "prov-x"}, external_id="prov-x")
    built = engine.success_statement(delivery, delivery.attempts + 1, timezone.now(), attempt)
    return built.sql, built.params


def provider_id_store(delivery: Delivery) -> tuple[str, dict]:
    """communications/services/operator.py: the `sendMessage` answer's id store with its queued calls."""
    return operator.PROVIDER_ID_STORE_SQL, operator.provider_id_store_params(
        delivery, chat_id=delivery.ordering_key, client_id="crm-x", provider_id="prov-x")


def operator_chat_page(chat: Chat, page_size: int = 50):
    """GET operator/chats: one page of rows, as the view reads it."""
    return OperatorChatRows(chat_list_for_operator(tenant_id=chat.tenant_id, provider=chat.provider))[:page_size]


def operator_message_page(chat: Chat, page_size: int = 50):
    """GET operator/chats/<id>/messages: one page of a chat's messages, as the view reads it."""
    return message_list_for_operator(tenant_id=chat.tenant_id, provider=chat.provider, chat=chat)[:page_size]


def operator_chat_count(chat: Chat) -> tuple[str, list]:
    """GET operator/chats: the paginator's count, as sent (its SQL and parameters, caught on the way to the database)."""
    sent, chats = [], chat_list_for_operator(tenant_id=chat.tenant_id, provider=chat.provider)

    def catch(execute, sql, params, many, context):
        sent.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(catch):
        OperatorChatRows(chats).count()
    assert len(sent) == 1, sent
    return sent[0]


def message_dedupe(message: Message):
    """The repeat check of POST /api/v1/messages: the id is unique per tenant + provider."""
    return Message.objects.filter(tenant_id=message.tenant_id, provider_id=message.provider_id,
                                  external_id=message.external_id)


def retention_batch() -> tuple[str, list]:
    """communications/services/retention.py deliveries_prune: one batch, as sent (`rows_inlined`)."""
    return statement_inlined(_prunable(timezone.now() - timedelta(days=30)).order_by("updated_at")
                             .values_list("pk")[:1000])
