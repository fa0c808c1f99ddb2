"""CRM operator actions in a tenant's chats (`/internal/v1/operator/...`).

Every action changes our data AND writes the provider call (and the webhook event, when
the provider subscribed to it) as outbox deliveries in the same transaction. Calls about
one chat share the ordering key = the chat's external id, so an edit or a status change
never reaches the provider before the message it refers to.

Outgoing messages get a temporary id `crm-<uuid>` (sent as `clientMessageId`). When the
provider answers `sendMessage` with its `messageId`, that id becomes the message's external
id (so the provider can address it through the public API), and calls about the message
still queued behind it get `messageId` filled in before they are sent.

Actions are refused with 409 when the tenant's integration is not active: the app is
disabled in the marketplace (`integration_disabled`) or there is no active integration
token (`integration_inactive`). Reads stay allowed.
"""

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import Exists
from django.utils import timezone

from communications import provider_contract as contract
from communications.models import (
    Channel,
    Chat,
    Delivery,
    IntegrationToken,
    Message,
    OperatorRequest,
    Provider,
    ProviderConfiguration,
    TenantConfiguration,
    Webhook,
)
from communications.selectors.conversations import chat_get
from communications.selectors.providers import provider_get
from communications.services import attachments as attachment_services
from communications.services.conversations import chat_mark_seen, message_set_status, message_update_text
from communications.services.deliveries import (
    PENDING_LIKE,
    chains_lock,
    configured_endpoint_url,
    delivery_enqueue,
    on_refused_handler,
)
from communications.services.webhook_events import Event, message_data, webhook_event_emit
from config.errors import ApplicationError, ConflictError, NotFoundError
from config.observability.request_id import request_id_get
from config.sql import Columns, insert_pair, insert_row, known_empty, literals
from delivery import engine
from delivery.engine import on_delivered_handler
from delivery.kinds import AlsoSql

logger = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "crm-"
BROADCAST_ID_PREFIX = "crmb-"  # sent inside one bulkMessages call: no per-chat ordering until acknowledged
MAX_BROADCAST_CHATS = 100


# --- guards -------------------------------------------------------------------------------------

def integration_require(*, tenant_id: uuid.UUID, provider: Provider) -> TenantConfiguration:
    """The tenant's active configuration, or 409 when operator actions must be refused.

    On PostgreSQL the active token row is share-locked until commit, so a concurrent token
    deactivation (which takes FOR UPDATE on it) runs strictly before or after this action:
    no provider call slips in after `disconnect`.
    """
    tenant_configuration = (TenantConfiguration.objects.select_related("configuration", "provider")
                            .filter(tenant_id=tenant_id, provider=provider).first())
    if tenant_configuration is None or not tenant_configuration.is_active or not provider.is_active:
        raise ConflictError("Приложение провайдера отключено у тенанта в маркетплейсе: действия в чатах недоступны.",
                            code="integration_disabled")
    with connection.cursor() as cursor:  # Django has no FOR SHARE: the send's guard, one round trip, lock included
        cursor.execute(*_token_guard(tenant_id, provider.pk, connection))
        if cursor.fetchone() is None:
            raise _inactive()
    return tenant_configuration


def _inactive() -> ConflictError:
    return ConflictError("Интеграция тенанта с провайдером деактивирована (нет активного токена): "
                         "действия в чатах недоступны.", code="integration_inactive")


class _SendScope:
    """One statement for everything a send reads before it writes (issue 19): the provider by its code, the
    tenant's configuration with its provider configuration, whether a token is usable, the chat with its channel
    and the tenant's webhook. Each is unique per tenant and provider, so the joins give one row at most. It locks
    nothing: the write that follows share-locks the token itself (`_token_guard`)."""

    def __init__(self, using: str):
        self.using = using
        connection = connections[using]
        table, q = (lambda model: connection.ops.quote_name(model._meta.db_table)), connection.ops.quote_name
        self.parts = [Columns(Provider, "p", using), Columns(TenantConfiguration, "tc", using),
                      Columns(ProviderConfiguration, "cf", using), Columns(Chat, "ch", using),
                      Columns(Channel, "cn", using), Columns(Webhook, "wh", using)]
        self.sql = (
            f"SELECT {', '.join(part.sql for part in self.parts)}, "  # noqa: S608 (the models' own names)
            # the usable token: one at most (uniq_active_integration_token), so no LIMIT, which let the planner hope
            # for an early match in a sequential scan of every token
            f"(SELECT t.{q('id')} FROM {table(IntegrationToken)} t WHERE t.{q('tenant_id')} = %s "
            f"AND t.{q('provider_id')} = p.{q('id')} AND {IntegrationToken.USABLE_SQL.format(t='t')}) "
            f"FROM {table(Provider)} p "
            f"LEFT JOIN {table(TenantConfiguration)} tc ON tc.{q('tenant_id')} = %s AND tc.{q('provider_id')} = p.{q('id')} "
            f"LEFT JOIN {table(ProviderConfiguration)} cf ON cf.{q('id')} = tc.{q('configuration_id')} "
            f"LEFT JOIN {table(Chat)} ch ON ch.{q('tenant_id')} = %s AND ch.{q('provider_id')} = p.{q('id')} "
            f"AND ch.{q('external_id')} = %s "
            f"LEFT JOIN {table(Channel)} cn ON cn.{q('id')} = ch.{q('channel_id')} "
            f"LEFT JOIN {table(Webhook)} wh ON wh.{q('tenant_id')} = %s AND wh.{q('provider_id')} = p.{q('id')} "
            f"WHERE p.{q('code')} = %s")

    def params(self, *, tenant_id: uuid.UUID, provider_code: str, chat_id: str) -> list:
        connection = connections[self.using]
        tenant = Chat._meta.get_field("tenant_id").get_db_prep_value(tenant_id, connection)
        now = Chat._meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
        return [tenant, now, tenant, tenant, chat_id, tenant, provider_code]

    def get(self, **scope):
        """(tenant configuration, chat, webhook or None) when every check of a send passes, else None."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params(**scope))
            row = cursor.fetchone()
        if row is None or row[-1] is None:
            return None
        start, found = 0, []
        for part in self.parts:
            found.append(part.read(row, start))
            start += part.width
        provider, tenant_configuration, configuration, chat, channel, webhook = found
        if (tenant_configuration is None or not tenant_configuration.is_active or not provider.is_active
                or chat is None):
            return None
        tenant_configuration.provider, tenant_configuration.configuration = provider, configuration
        chat.provider = provider
        if channel is not None:
            chat.channel = channel
        return tenant_configuration, chat, webhook


_local = threading.local()  # the statement per thread, as config.sql keeps its compiled queries


def _send_scope_statement() -> _SendScope:
    using = router.db_for_read(Chat)
    scopes = getattr(_local, "send_scopes", None)
    if scopes is None:
        scopes = _local.send_scopes = {}
    scope = scopes.get(using)
    if scope is None:
        scope = scopes[using] = _SendScope(using)
    return scope


def _send_scope(*, tenant_id: uuid.UUID, provider_code: str, chat_id: str):
    return _send_scope_statement().get(tenant_id=tenant_id, provider_code=provider_code, chat_id=chat_id)


def operator_message_get(*, tenant_id: uuid.UUID, provider: Provider, message_id: int) -> Message:
    """A message by OUR id (stable, unlike the external id that changes when the provider answers)."""
    message = (Message.objects.select_related("chat", "chat__channel")
               .filter(tenant_id=tenant_id, provider=provider, pk=message_id).first())
    if message is None:
        raise NotFoundError("Сообщение не найдено.", field="messageId")
    return message


# --- payloads -------------------------------------------------------------------------------------

def _ids(message: Message) -> dict:
    """`message_id` (the provider's id) or, while it is unknown, `client_message_id` (our crm-… id)."""
    temporary = message.external_id.startswith((CLIENT_ID_PREFIX, BROADCAST_ID_PREFIX))
    return {"message_id": None if temporary else message.external_id,
            "client_message_id": message.external_id if temporary else None}


def _channel_id(chat: Chat) -> str | None:
    return chat.channel.external_id if chat.channel_id else None


def _send_payload(tenant_configuration, message: Message, operator_id: str, attachments=()) -> dict:
    chat = message.chat
    reply_to = message.reply_to_external_id
    return contract.send_message_body(tenant_id=tenant_configuration.tenant_id, chat_id=chat.external_id,
                                      channel_id=_channel_id(chat), client_message_id=message.external_id,
                                      text=message.text, operator_id=operator_id,
                                      attachments=attachment_services.attachments_for_provider(attachments),
                                      reply_to=None if reply_to.startswith((CLIENT_ID_PREFIX, BROADCAST_ID_PREFIX))
                                      else reply_to)


def _event_data(message: Message, attachments=None) -> dict:
    return message_data(message, **_ids(message), attachments=attachments)


def _message_create(*, tenant_configuration, chat: Chat, text: str, operator_id: str, prefix: str) -> Message:
    return Message.objects.create(
        tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider, chat=chat,
        external_id=f"{prefix}{uuid.uuid4()}", direction=Message.Direction.OUTGOING, text=text,
        sender_external_id=operator_id, seen_flag=True, status=Message.Status.SENT,
    )


_MESSAGE_FIELDS = [field for field in Message._meta.concrete_fields if not field.primary_key]


def _message_new(*, tenant_configuration, chat: Chat, text: str, operator_id: str, reply_to: Message | None) -> Message:
    """The row `_message_create` writes (with the quoted message), not saved yet."""
    now = timezone.now()
    return Message(
        tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider, chat=chat,
        external_id=f"{CLIENT_ID_PREFIX}{uuid.uuid4()}", direction=Message.Direction.OUTGOING.value, text=text,
        sender_external_id=operator_id, seen_flag=True, status=Message.Status.SENT.value, created_at=now,
        updated_at=now, reply_to=reply_to, reply_to_external_id=reply_to.external_id if reply_to else "")


def _saved(message: Message, pk: int) -> Message:
    message.pk = pk
    message._state.adding, message._state.db = False, router.db_for_write(Message)
    return message


def _message_insert(**fields) -> Message:
    """`_message_new` as one plain INSERT: the same row, no ORM compile (issue 19)."""
    message = _message_new(**fields)
    (pk,) = insert_row(Message, {field.name: getattr(message, field.attname) for field in _MESSAGE_FIELDS},
                       returning=("id",))
    return _saved(message, pk)


_guards: dict = {}  # alias → the token guard's text


def _token_guard(tenant_id: uuid.UUID, provider_id: int, connection) -> tuple[str, list]:
    """The integration's usable token, share-locked: read by `integration_require`, and the guard of the send's write
    (`insert_pair`). A deactivation (FOR UPDATE on the token) runs strictly before the action, which then finds no
    token (or writes nothing), or after its commit. The status is in the text, so even a generic plan reads the one
    active token by `uniq_active_integration_token`; no LIMIT (it led the planner to a sequential scan of every token
    in the hope of an early match). On SQLite no lock: it serialises writers anyway."""
    sql = _guards.get(connection.alias)
    if sql is None:
        q = connection.ops.quote_name
        lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
        sql = _guards[connection.alias] = (
            f"SELECT 1 FROM {q(IntegrationToken._meta.db_table)} t "  # noqa: S608 (the model's own name)
            f"WHERE t.{q('tenant_id')} = %s AND t.{q('provider_id')} = %s "
            f"AND {IntegrationToken.USABLE_SQL.format(t='t')}{lock}")
    if not isinstance(tenant_id, uuid.UUID):
        tenant_id = uuid.UUID(str(tenant_id))
    # a UUIDField's value as the database takes it
    return sql, [tenant_id if connection.features.has_native_uuid_field else tenant_id.hex, provider_id,
                 connection.ops.adapt_datetimefield_value(timezone.now())]


def _message_and_call_insert(tenant_configuration, message: Message, operator_id: str) -> Message | None:
    """The message and its `sendMessage` call in one statement (issue 19, round 2): the row `delivery_enqueue` writes
    (the same checks: the integration is active by the caller's read and the token's share lock in the statement,
    the endpoint configured), the chain's lock taken inside the statement before the call's row, the publication
    after commit. Three statements and a savepoint pair fewer; no ORM compile or instance for the call. None when the
    token is no longer usable (deactivated since the caller's read): nothing written."""
    configuration, chat = tenant_configuration.configuration, message.chat
    url = configured_endpoint_url(configuration, "sendMessage")
    kind, provider_id = Delivery.Kind.PROVIDER.value, tenant_configuration.provider_id
    call = engine.delivery_values(
        kind=kind, tenant_id=tenant_configuration.tenant_id, provider_id=provider_id,
        tenant_configuration_id=tenant_configuration.pk, configuration_id=configuration.pk, endpoint="sendMessage",
        url=url, payload=_send_payload(tenant_configuration, message, operator_id), ordering_key=chat.external_id,
        on_delivered="operator.message_sent", request_id=request_id_get())
    connection = connections[router.db_for_write(Delivery)]
    lock = (engine.chain_lock_key(kind, tenant_configuration.tenant_id, provider_id, chat.external_id)
            if connection.vendor == "postgresql" else None)
    keys = insert_pair(Message, {field.attname: getattr(message, field.attname) for field in _MESSAGE_FIELDS},
                       Delivery, call, lock=lock,
                       guard=_token_guard(tenant_configuration.tenant_id, provider_id, connection))
    if keys is None:
        return None
    message_pk, call_pk = keys
    engine.dispatch_on_commit(call_pk, kind=kind)
    return _saved(message, message_pk)


_LOOK_UP = object()  # the webhook is not known yet


def _created_event(tenant_configuration, message: Message, attachments=(), webhook=_LOOK_UP) -> None:
    if webhook is None:
        return  # no webhook: nothing to build
    webhook_event_emit(tenant_configuration=tenant_configuration, event=Event.MESSAGE_CREATED,
                       data=_event_data(message, list(attachments)), ordering_key=message.chat.external_id,
                       **({} if webhook is _LOOK_UP else {"webhook": webhook}))


# --- actions ----------------------------------------------------------------------------------------

def operator_message_send(*, tenant_id: uuid.UUID, provider: Provider | str, chat_id: str, text: str,
                          operator_id: str = "", attachments: list[dict] | None = None,
                          reply_to_id: int | None = None) -> Message:
    """Store an outgoing message and queue `sendMessage` (ordered within the chat).

    `provider`: the provider or its code (the operator API passes the code: one statement reads it with the
    integration's state, the chat and the webhook; a code nobody has is a 404 naming `providerCode`).
    `attachments` (uploadId / location / contact items) go to the provider as signed URLs when its
    configuration declares the capability; otherwise the call is text-only and each attachment is
    `failed` with the reason (attachments only, without text: 409 `attachments_not_supported`).
    `reply_to_id` is OUR id of a message in the same chat; the provider gets its own id as `replyTo`.

    The reads take no lock and need no transaction. The writes share-lock the integration's token first (in the
    insert's own statement, or `integration_require`): a plain send to a tenant without a webhook is that one
    statement, committed on its own (no BEGIN/COMMIT round trips); otherwise the writes share one transaction.
    """
    code = provider if isinstance(provider, str) else provider.code
    scope = _send_scope(tenant_id=tenant_id, provider_code=code, chat_id=chat_id)
    if scope is None:  # something is missing or off: the checks one by one give the answer
        if isinstance(provider, str):
            provider = provider_get(code=provider, field="providerCode")
        tenant_configuration = integration_require(tenant_id=tenant_id, provider=provider)
        chat, webhook = chat_get(tenant_id=tenant_id, provider=provider, chat_id=chat_id), _LOOK_UP
    else:
        tenant_configuration, chat, webhook = scope
    provider = tenant_configuration.provider
    quoted = None
    if reply_to_id is not None:
        quoted = Message.objects.filter(tenant_id=tenant_id, provider=provider, chat=chat, pk=reply_to_id).first()
        if quoted is None:
            raise NotFoundError("Цитируемое сообщение не найдено в этом чате.", field="replyTo")
    configuration = tenant_configuration.configuration
    refused = [a for a in attachments or () if not configuration.accepts_attachment(a["type"])]
    if refused and not text and len(refused) == len(attachments):
        raise ConflictError("Провайдер не поддерживает такие вложения; отправьте текст или другой тип.",
                            code="attachments_not_supported", field="attachments")
    if not attachments:  # the plain send (bench S5): the message and its call in one statement
        with transaction.atomic() if webhook is not None else nullcontext():  # the event beside them
            message = _message_and_call_insert(tenant_configuration, _message_new(
                tenant_configuration=tenant_configuration, chat=chat, text=text, operator_id=operator_id,
                reply_to=quoted), operator_id)
            if message is None:  # deactivated since the read: the checks give the answer
                integration_require(tenant_id=tenant_id, provider=provider)
                raise _inactive()
            known_empty(message, "attachments")  # the answer reads none
            _created_event(tenant_configuration, message, (), webhook)
        return message
    with transaction.atomic():
        integration_require(tenant_id=tenant_id, provider=provider)  # the token share-locked until commit
        return _message_with_attachments_send(tenant_configuration, chat=chat, text=text, operator_id=operator_id,
                                              quoted=quoted, attachments=attachments, webhook=webhook)


def _message_with_attachments_send(tenant_configuration, *, chat: Chat, text: str, operator_id: str,
                                   quoted: Message | None, attachments: list[dict], webhook) -> Message:
    tenant_id, provider = tenant_configuration.tenant_id, tenant_configuration.provider
    configuration = tenant_configuration.configuration
    uploads = attachment_services.uploads_for(tenant_id=tenant_id, provider=provider,
                                              items=[{"attachments": attachments}])
    attachment_services.refuse_missing_uploads({"attachments": attachments}, uploads)
    message = _message_insert(tenant_configuration=tenant_configuration, chat=chat, text=text,
                              operator_id=operator_id, reply_to=quoted)
    attachment_services.attachments_create([(message, attachments)], uploads)
    rows = list(message.attachments.all())
    sent = [row for row in rows if configuration.accepts_attachment(row.type, row.size)]
    attachment_services.attachments_refuse([row for row in rows if row not in sent],
                                           "Провайдер не поддерживает это вложение; отправлен только текст.")
    delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="sendMessage",
                     payload=_send_payload(tenant_configuration, message, operator_id, sent),
                     ordering_key=chat.external_id, on_delivered="operator.message_sent")
    _created_event(tenant_configuration, message, sent, webhook)  # the attachments the provider gets
    return message


@transaction.atomic
def operator_broadcast(*, tenant_id: uuid.UUID, provider: Provider, chat_ids: list[str], text: str,
                       operator_id: str = "") -> tuple[list[Message], str]:
    """Send one text to several chats. Returns (messages, endpoint used).

    With `bulkMessages` configured and more than one chat: ONE `bulkMessages` call (the
    provider answers `results[i].messageId`). Otherwise one ordered `sendMessage` per chat.
    """
    tenant_configuration = integration_require(tenant_id=tenant_id, provider=provider)
    chats = {c.external_id: c for c in Chat.objects.select_related("channel")
             .filter(tenant_id=tenant_id, provider=provider, external_id__in=chat_ids)}
    missing = [cid for cid in chat_ids if cid not in chats]
    if missing:
        raise NotFoundError(f"Чаты не найдены: {', '.join(missing[:10])}", code="chat_not_found", field="chatIds")
    use_bulk = len(chat_ids) > 1 and bool(tenant_configuration.configuration.endpoint_url("bulkMessages"))
    if not use_bulk:
        chains_lock(tenant_configuration=tenant_configuration, ordering_keys=chat_ids)
        messages = [operator_message_send(tenant_id=tenant_id, provider=provider, chat_id=cid, text=text,
                                          operator_id=operator_id) for cid in chat_ids]
        return messages, "sendMessage"
    messages = [_message_create(tenant_configuration=tenant_configuration, chat=chats[cid], text=text,
                                operator_id=operator_id, prefix=BROADCAST_ID_PREFIX) for cid in chat_ids]
    delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="bulkMessages",
                     payload=contract.bulk_messages_body(
                         tenant_id=tenant_id, messages=[_send_payload(tenant_configuration, m, operator_id)
                                                        for m in messages]),
                     on_delivered="operator.bulk_sent")
    for message in messages:
        _created_event(tenant_configuration, message)
    return messages, "bulkMessages"


def _chat_chain_lock(tenant_configuration, chat: Chat) -> None:
    """The chat's chain of provider calls, locked before any of its messages (the lock order, docs/provider-calls.md):
    a send holds this lock when its foreign-key check share-locks the quoted message at commit."""
    engine.chain_lock(Delivery.Kind.PROVIDER, tenant_configuration.tenant_id, tenant_configuration.provider_id,
                      chat.external_id)


def _refuse_unacknowledged_broadcast(message: Message) -> None:
    if message.external_id.startswith(BROADCAST_ID_PREFIX):
        raise ConflictError("Сообщение рассылки ещё не принято провайдером; повторите действие позже.",
                            code="message_not_acknowledged", field="messageId")


@transaction.atomic
def operator_message_edit(*, tenant_id: uuid.UUID, provider: Provider, message_id: int, text: str) -> Message:
    """Replace the text of an outgoing message and queue `updateMessageContent` behind its `sendMessage`."""
    tenant_configuration = integration_require(tenant_id=tenant_id, provider=provider)
    message = operator_message_get(tenant_id=tenant_id, provider=provider, message_id=message_id)
    if message.direction != Message.Direction.OUTGOING:
        raise ApplicationError("Редактировать можно только исходящие сообщения.", code="message_not_outgoing",
                               field="messageId")
    _refuse_unacknowledged_broadcast(message)
    if message.text == text:
        return message
    _chat_chain_lock(tenant_configuration, message.chat)
    message = message_update_text(message=message, text=text)
    chat = message.chat
    delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="updateMessageContent",
                     payload=contract.update_content_body(tenant_id=tenant_id, chat_id=chat.external_id,
                                                          **_ids(message), text=text),
                     ordering_key=chat.external_id)
    webhook_event_emit(tenant_configuration=tenant_configuration, event=Event.MESSAGE_UPDATED,
                       data=_event_data(message), ordering_key=chat.external_id)
    return message


@transaction.atomic
def operator_message_set_status(*, tenant_id: uuid.UUID, provider: Provider, message_id: int, status: str,
                                error: str = "") -> Message:
    """Set a message status and queue `updateMessageStatus` (ordered within the chat)."""
    tenant_configuration = integration_require(tenant_id=tenant_id, provider=provider)
    message = operator_message_get(tenant_id=tenant_id, provider=provider, message_id=message_id)
    _refuse_unacknowledged_broadcast(message)
    before = (message.status, message.status_error)
    _chat_chain_lock(tenant_configuration, message.chat)
    message = message_set_status(message=message, status=status, error=error)
    if (message.status, message.status_error) == before:
        return message
    chat = message.chat
    delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="updateMessageStatus",
                     payload=contract.update_status_body(tenant_id=tenant_id, chat_id=chat.external_id,
                                                         **_ids(message), status=message.status,
                                                         error=message.status_error),
                     ordering_key=chat.external_id)
    webhook_event_emit(tenant_configuration=tenant_configuration, event=Event.MESSAGE_STATUS,
                       data=_event_data(message), ordering_key=chat.external_id)
    return message


@transaction.atomic
def operator_chat_mark_read(*, tenant_id: uuid.UUID, provider: Provider, chat_id: str) -> int:
    """Mark the chat read here and queue `markChatRead`. Returns how many messages flipped."""
    tenant_configuration = integration_require(tenant_id=tenant_id, provider=provider)
    chat = chat_get(tenant_id=tenant_id, provider=provider, chat_id=chat_id)
    _chat_chain_lock(tenant_configuration, chat)
    updated = chat_mark_seen(chat=chat)
    delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead",
                     payload=contract.mark_chat_read_body(tenant_id=tenant_id, chat_id=chat.external_id,
                                                          channel_id=_channel_id(chat)),
                     ordering_key=chat.external_id)
    webhook_event_emit(tenant_configuration=tenant_configuration, event=Event.CHAT_SEEN,
                       data=contract.chat_seen_event_data(chat_id=chat.external_id, updated=updated),
                       ordering_key=chat.external_id)
    return updated


# --- idempotency (Idempotency-Key) -------------------------------------------------------------------

IDEMPOTENCY_KEY_MAX_LENGTH = 255


def request_fingerprint(*, method: str, path: str, body) -> str:
    """SHA-256 of what makes two requests "the same": method, path and the parsed body."""
    canonical = json.dumps([method, path, body], sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def operator_request_run(*, caller, key: str, fingerprint: str,
                         action: Callable[[], tuple[int, object]]) -> tuple[int, object, bool]:
    """Run `action` (→ status code, JSON body) once per caller and key. Returns (code, body, replayed).

    The key row is inserted first, in the action's own transaction: a concurrent request with the
    same key waits on the unique index until this one commits (then replays its answer) or rolls
    back (then runs itself). A failed action rolls the key back with everything else, so only
    answers that changed something are replayed. Another request under the key: 422.
    """
    try:
        with transaction.atomic():
            record = OperatorRequest.objects.create(caller=caller, key=key, fingerprint=fingerprint,
                                                    status_code=0, response="")
    except IntegrityError:
        record = OperatorRequest.objects.get(caller=caller, key=key)
        if record.fingerprint != fingerprint:
            raise ApplicationError("Idempotency-Key уже использован с другим запросом (другие путь или тело).",
                                   code="idempotency_key_reused", field="Idempotency-Key", status_code=422)
        return record.status_code, json.loads(record.response), True
    status_code, body = action()
    record.status_code, record.response = status_code, json.dumps(body, ensure_ascii=False)
    record.save(update_fields=["status_code", "response"])
    return status_code, body, False


def operator_requests_prune() -> int:
    """Delete keys older than `OPERATOR_IDEMPOTENCY_KEY_HOURS` (a retry after that runs again)."""
    cutoff = timezone.now() - timedelta(hours=settings.OPERATOR_IDEMPOTENCY_KEY_HOURS)
    deleted, _ = OperatorRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- answers of the provider (run in the transaction that marks the delivery delivered) -----------

def _provider_id_store(delivery: Delivery, *, chat_id: str, client_id: str, provider_id: str) -> None:
    scope = {"tenant_id": delivery.tenant_id, "provider_id": delivery.provider_id}
    if not provider_id:
        if Message.objects.filter(**scope, external_id=client_id).exists():
            logger.warning("delivery %s: provider returned no message id", delivery.pk)
        return
    if connection.vendor == "postgresql":
        stored = _provider_id_store_sql(delivery, chat_id=chat_id, client_id=client_id, provider_id=provider_id)
    else:
        stored = _provider_id_store_orm(delivery, chat_id=chat_id, client_id=client_id, provider_id=provider_id)
    if not stored:
        _provider_id_taken_check(delivery, client_id=client_id, provider_id=provider_id)


def _provider_id_taken_check(delivery: Delivery, *, client_id: str, provider_id: str) -> None:
    """The id was not stored: a conflict for the moderator (on the row's last_error) if another message holds it."""
    if (Message.objects.filter(tenant_id=delivery.tenant_id, provider_id=delivery.provider_id, external_id=provider_id)
            .exclude(external_id=client_id).exists()):
        raise ConflictError(f"id {provider_id} уже занят другим сообщением (эхо через публичный API?)")


# The id is stored unless another message already has it; calls about this message still queued behind it
# learn the id before they are sent (`payload.messageId`). One statement (issue 19: the ORM's two, with a
# model instance per queued call, were a third of a delivered call's CPU in the worker). Its two parts are also
# statements of the one-statement record of a `sendMessage` success (`_message_sent_sql`; `{ours}` there).
_ID_STORED = """
    UPDATE communications_message SET external_id = %(provider_id)s, updated_at = %(now)s
    WHERE tenant_id = %(tenant)s AND provider_id = %(provider)s AND external_id = %(client_id)s AND {ours}
      AND NOT EXISTS (SELECT 1 FROM communications_message taken WHERE taken.tenant_id = %(tenant)s
                      AND taken.provider_id = %(provider)s AND taken.external_id = %(provider_id)s
                      AND taken.external_id <> %(client_id)s)
    RETURNING 1"""
# The chain's non-empty key and the statuses as literals: the plan PostgreSQL keeps for the prepared statement then
# reads the open-chain index (its condition is proven), not every row of the tenant.
_ID_WAITING = f"""
    UPDATE communications_delivery
    SET payload = jsonb_set(payload, '{{messageId}}', to_jsonb(%(provider_id)s::text)), updated_at = %(now)s
    WHERE EXISTS (SELECT 1 FROM id_stored) AND kind = %(kind)s AND tenant_id = %(tenant)s
      AND provider_id = %(provider)s AND ordering_key = %(chat_id)s AND ordering_key <> '' AND id > %(pk)s
      AND status IN ({literals(PENDING_LIKE)})
      AND payload ->> 'clientMessageId' = %(client_id)s
    RETURNING 1"""  # noqa: S608 (our constants, quoted by psycopg)
PROVIDER_ID_STORE_SQL = (
    f"WITH id_stored AS ({_ID_STORED.replace('{ours}', 'TRUE')}), id_waiting AS ({_ID_WAITING})\n"  # noqa: S608
    "SELECT (SELECT count(*) FROM id_stored), (SELECT count(*) FROM id_waiting)")


def provider_id_store_params(delivery: Delivery, *, chat_id: str, client_id: str, provider_id: str) -> dict:
    return {"provider_id": provider_id, "client_id": client_id, "chat_id": chat_id, "now": timezone.now(),
            "tenant": delivery.tenant_id, "provider": delivery.provider_id, "pk": delivery.pk,
            "kind": Delivery.Kind.PROVIDER}


def _provider_id_store_sql(delivery: Delivery, **ids) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(PROVIDER_ID_STORE_SQL, provider_id_store_params(delivery, **ids))
        return bool(cursor.fetchone()[0])


def _positional(sql: str) -> tuple[str, list[str]]:
    """`%(name)s` placeholders as `%s` (a part of a larger statement), with the names in their order."""
    return re.sub(r"%\(\w+\)s", "%s", sql), re.findall(r"%\((\w+)\)s", sql)


_ID_STORED_PARTS, _ID_WAITING_PARTS = _positional(_ID_STORED), _positional(_ID_WAITING)


def _message_sent_sql(delivery: Delivery, attempt) -> list[AlsoSql] | None:
    """`_message_sent` as statements of the one-statement record of the success (`engine.on_delivered_handler`):
    the same id store, written only while the attempt holds the row. No id in the answer: the handler (it warns)."""
    sent, provider_id = delivery.payload, attempt.external_id[:255]
    if not provider_id:
        return None
    ids = {"chat_id": sent["chatId"], "client_id": sent["clientMessageId"], "provider_id": provider_id}
    params = provider_id_store_params(delivery, **ids)

    def after(stored: int) -> None:
        if not stored:
            _provider_id_taken_check(delivery, client_id=ids["client_id"], provider_id=provider_id)

    (stored_sql, stored_names), (waiting_sql, waiting_names) = _ID_STORED_PARTS, _ID_WAITING_PARTS
    return [AlsoSql(stored_sql, [params[name] for name in stored_names], after, name="id_stored"),
            AlsoSql(waiting_sql, [params[name] for name in waiting_names], name="id_waiting")]


def _provider_id_store_orm(delivery: Delivery, *, chat_id: str, client_id: str, provider_id: str) -> bool:
    """The same on SQLite (`make run`)."""
    scope = {"tenant_id": delivery.tenant_id, "provider_id": delivery.provider_id}
    taken = Message.objects.filter(**scope, external_id=provider_id).exclude(external_id=client_id)
    if not (Message.objects.filter(**scope, external_id=client_id).exclude(Exists(taken))
            .update(external_id=provider_id, updated_at=timezone.now())):
        return False
    waiting = Delivery.objects.filter(kind=Delivery.Kind.PROVIDER, **scope, ordering_key=chat_id,
                                      pk__gt=delivery.pk, status__in=PENDING_LIKE,
                                      payload__clientMessageId=client_id)
    for queued in waiting:
        queued.payload["messageId"] = provider_id
        queued.save(update_fields=["payload", "updated_at"])
    return True


@on_delivered_handler("operator.message_sent", sql=_message_sent_sql)
def _message_sent(delivery: Delivery) -> None:
    sent = delivery.payload
    _provider_id_store(delivery, chat_id=sent["chatId"], client_id=sent["clientMessageId"],
                       provider_id=delivery.provider_message_id)


@on_delivered_handler("operator.bulk_sent")
def _bulk_sent(delivery: Delivery) -> None:
    sent = delivery.payload["messages"]
    results = (delivery.response_json or {}).get("results") if isinstance(delivery.response_json, dict) else None
    for position, result in enumerate(results or []):
        index = result.get("index", position) if isinstance(result, dict) else None
        if isinstance(index, int) and 0 <= index < len(sent) and result.get("messageId"):
            _provider_id_store(delivery, chat_id=sent[index]["chatId"], client_id=sent[index]["clientMessageId"],
                               provider_id=str(result["messageId"])[:255])


# --- permanent refusals (4xx) of calls about messages (run in the transaction that records them) -----

MESSAGE_CALLS = ("sendMessage", "updateMessageContent", "updateMessageStatus")


@on_refused_handler(*MESSAGE_CALLS, "bulkMessages")
def _message_call_refused(delivery: Delivery) -> None:
    """The provider refused a call about a message for good: the message is `failed` with its answer
    (operator API + `message.status` event), and the calls about it still queued are cancelled."""
    sent = delivery.payload.get("messages") if delivery.endpoint == "bulkMessages" else [delivery.payload]
    scope = {"tenant_id": delivery.tenant_id, "provider_id": delivery.provider_id}
    answer = f"Провайдер отклонил {delivery.endpoint}: {delivery.last_error}"[:2000]
    for body in sent or []:
        if not isinstance(body, dict):
            continue
        ids = [value for value in (body.get("messageId"), body.get("clientMessageId")) if value]
        message = (Message.objects.select_related("chat", "chat__channel")
                   .filter(**scope, external_id__in=ids).first())
        if message is None:
            continue
        message_set_status(message=message, status=Message.Status.FAILED, error=answer)
        if delivery.tenant_configuration is not None:
            webhook_event_emit(tenant_configuration=delivery.tenant_configuration, event=Event.MESSAGE_STATUS,
                               data=_event_data(message), ordering_key=message.chat.external_id)
        _dependent_calls_cancel(delivery, chat_id=body.get("chatId") or message.chat.external_id, ids=ids)


def _dependent_calls_cancel(delivery: Delivery, *, chat_id: str, ids: list[str]) -> int:
    reason = f"отменена: сообщение отклонено провайдером (доставка #{delivery.pk})"
    cancelled = [queued.pk for queued in Delivery.objects.filter(
        kind=Delivery.Kind.PROVIDER, tenant_id=delivery.tenant_id, provider_id=delivery.provider_id,
        ordering_key=chat_id, pk__gt=delivery.pk, status__in=(*PENDING_LIKE, Delivery.Status.DEAD),
        endpoint__in=MESSAGE_CALLS).only("pk", "payload")
        if isinstance(queued.payload, dict)
        and {queued.payload.get("messageId"), queued.payload.get("clientMessageId")} & set(ids)]
    return Delivery.objects.filter(pk__in=cancelled).update(
        status=Delivery.Status.CANCELLED, last_error=reason, lease_expires_at=None, updated_at=timezone.now())
