"""Writes of accounts, channels, chats, messages and webhooks pushed by providers.

Idempotency rests on the unique constraints of the models: a create first looks the
external id up, then inserts inside a savepoint; if a concurrent request won the race,
the IntegrityError is caught and the winner's row is returned. This works the same on
PostgreSQL (the second INSERT waits for the first transaction, then conflicts) and SQLite.

Chat/participant/message payloads arrive as dicts with snake_case keys (validated by the
public API serializers):
    chat = {"external_id", "channel_id", "title", "type", "metadata",
            "participants": [{"external_id", "name", "username", "phone", "metadata"}]}
"""

import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, connections, router, transaction
from django.utils import timezone

from communications.clients import webhook_secret_generate
from communications.models import (
    Account,
    Channel,
    Chat,
    Message,
    MessageEdit,
    MessageStatusHistory,
    Participant,
    Provider,
    Webhook,
)
from communications.services import attachments as attachment_services
from communications.services import sandbox_limits
from config.errors import ApplicationError, ConflictError
from config.sql import any_of, insert_rows, known_empty

PARTICIPANT_BATCH_SIZE = 1000  # keeps one INSERT under PostgreSQL's 65535 bind parameters
CHAT_FIELDS = ("title", "type", "metadata")
PARTICIPANT_FIELDS = ("name", "username", "phone", "metadata")
# Statuses move forward only (sent -> delivered -> read); failed is final.
STATUS_RANK = {Message.Status.SENT: 0, Message.Status.DELIVERED: 1, Message.Status.READ: 2, Message.Status.FAILED: 3}


# --- the repeat rule and stale writes (docs/public-api.md, «Повторы и устаревшие изменения») -------------

def _canonical(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):  # an attachment's uploadId
        return str(value)
    raise TypeError(type(value).__name__)


# What `json.dumps(data, sort_keys=True, ensure_ascii=False, default=_canonical)` builds on every call, built once.
_FINGERPRINT_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=_canonical)


def fingerprint(data: dict) -> str:
    """A stable digest of a validated POST body: a repeat must carry the same one."""
    encoded = _FINGERPRINT_ENCODER.encode(data)
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def _id_conflict(what: str) -> ConflictError:
    return ConflictError(f"{what} с таким id уже есть, и тело запроса отличается от первого. Повтор должен быть "
                         "тем же запросом; изменения передайте через PATCH.", code="id_conflict",
                         field="id")


def _refuse_stale(*, stored: datetime | None, changed_at: datetime | None) -> None:
    if changed_at is not None and stored is not None and changed_at < stored:
        raise ConflictError(f"Изменение устарело: уже применено изменение от {stored.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}.",
                            code="stale_update", field="changedAt")


def _newer(stored: datetime | None, changed_at: datetime | None) -> datetime | None:
    return max(filter(None, (stored, changed_at)), default=None)


# --- accounts and channels -------------------------------------------------------------

def account_main_activate(*, tenant_id: uuid.UUID, provider: Provider) -> Account:
    """Create or re-activate the tenant's main account for the provider."""
    now = timezone.now()
    account, created = Account.objects.get_or_create(
        tenant_id=tenant_id, provider=provider, kind=Account.Kind.MAIN,
        defaults={"is_active": True, "activated_at": now},
    )
    if not created and not account.is_active:
        account.is_active, account.activated_at, account.deactivated_at = True, now, None
        account.save(update_fields=["is_active", "activated_at", "deactivated_at", "updated_at"])
    return account


def _account_set_active(account: Account, active: bool) -> None:
    if account.is_active == active:
        return
    now = timezone.now()
    account.is_active = active
    if active:
        account.activated_at, account.deactivated_at = now, None
    else:
        account.deactivated_at = now
    account.save(update_fields=["is_active", "activated_at", "deactivated_at", "updated_at"])


@transaction.atomic
def channel_connect(*, tenant_id: uuid.UUID, provider: Provider, external_id: str, code: str, name: str = "",
                    metadata: dict | None = None) -> tuple[Channel, bool]:
    """Connect a channel: create it with a child account under the main account, or re-activate it.

    Returns (channel, created). A re-sent channel updates its code, name and metadata.
    """
    main = account_main_activate(tenant_id=tenant_id, provider=provider)
    channel = (Channel.objects.select_for_update().select_related("account")
               .filter(tenant_id=tenant_id, provider=provider, external_id=external_id).first())
    if channel is None:
        try:
            with transaction.atomic():
                account = Account.objects.create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.CHILD,
                                                 parent=main, activated_at=timezone.now())
                channel = Channel.objects.create(tenant_id=tenant_id, provider=provider, external_id=external_id,
                                                 code=code, name=name, metadata=metadata or {}, account=account)
            return channel, True
        except IntegrityError:  # a concurrent request connected it first
            channel = (Channel.objects.select_for_update().select_related("account")
                       .get(tenant_id=tenant_id, provider=provider, external_id=external_id))
    channel.code, channel.name, channel.metadata = code, name, metadata or {}
    channel.save(update_fields=["code", "name", "metadata", "updated_at"])
    if channel.account.parent_id != main.pk:
        channel.account.parent = main
        channel.account.save(update_fields=["parent", "updated_at"])
    _account_set_active(channel.account, True)
    return channel, False


@transaction.atomic
def channel_post(*, tenant_id: uuid.UUID, provider: Provider, external_id: str, code: str, name: str = "",
                 metadata: dict | None = None) -> tuple[Channel, bool]:
    """POST /channels: connect, or (a repeat with the same body) re-activate and return it unchanged.

    Another body under a known id is 409 `id_conflict`: changes go through `channel_update` (PATCH).
    """
    existing = (Channel.objects.select_for_update()
                .filter(tenant_id=tenant_id, provider=provider, external_id=external_id).first())
    if existing is not None and (existing.code, existing.name, existing.metadata) != (code, name, metadata or {}):
        raise _id_conflict("Канал")
    return channel_connect(tenant_id=tenant_id, provider=provider, external_id=external_id, code=code, name=name,
                           metadata=metadata)


@transaction.atomic
def channel_update(*, channel: Channel, data: dict) -> Channel:
    """PATCH /channels/{id}: the given `name` and `metadata`; the code (the messenger) never changes."""
    fields = [field for field in ("name", "metadata") if field in data]
    for field in fields:
        setattr(channel, field, data[field] if data[field] is not None else _empty(field))
    channel.save(update_fields=[*fields, "updated_at"])
    return channel


@transaction.atomic
def channel_disconnect(*, channel: Channel) -> Channel:
    """Deactivate the channel's child account. Idempotent; chats and messages are kept."""
    _account_set_active(channel.account, False)
    return channel


# --- chats ----------------------------------------------------------------------------------

def _participants_build(chat: Chat, participants: list[dict]) -> list[Participant]:
    return [Participant(chat=chat, external_id=p["external_id"], **{f: p.get(f) or _empty(f)
                                                                     for f in PARTICIPANT_FIELDS})
            for p in participants]


def _empty(field: str):
    return {} if field == "metadata" else ""


def _channel_resolve(*, tenant_id, provider, channel_id: str | None, error_path: tuple[str, ...]) -> Channel | None:
    if not channel_id:
        return None
    channel = Channel.objects.filter(tenant_id=tenant_id, provider=provider, external_id=channel_id).first()
    if channel is None:
        raise ApplicationError("Канал не найден.", code="unknown_channel",
                               fields=_nest(error_path, ["Канал с таким id не подключён."]))
    return channel


def _nest(path: tuple[str, ...], leaf) -> dict:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


def _chat_get_or_create(*, tenant_id, provider, chat: dict,
                        error_path: tuple[str, ...] = ()) -> tuple[Chat, bool]:
    """Find the chat by external id or create it with all its participants (one bulk INSERT).
    `error_path` is where the chat sits in the request body (errors name `<path>.channelId`, `<path>.id`)."""
    lookup = {"tenant_id": tenant_id, "provider": provider, "external_id": chat["external_id"]}
    existing = Chat.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    channel = _channel_resolve(tenant_id=tenant_id, provider=provider, channel_id=chat.get("channel_id"),
                               error_path=(*error_path, "channelId"))
    if sandbox_limits.sandbox_chat_room(tenant_id=tenant_id) == 0:  # a developer's sandbox at its limit
        raise sandbox_limits.sandbox_chat_limit_error((*error_path, "id"))
    try:
        with transaction.atomic():
            created = Chat.objects.create(channel=channel, **lookup, request_fingerprint=fingerprint(chat),
                                          **{f: chat.get(f) or _empty(f) for f in CHAT_FIELDS})
            Participant.objects.bulk_create(_participants_build(created, chat.get("participants") or []),
                                            batch_size=PARTICIPANT_BATCH_SIZE)
    except IntegrityError:  # created concurrently: the winner created the participants
        return Chat.objects.get(**lookup), False
    return created, True


def _same_request(row, data: dict) -> bool:
    """Rows stored before fingerprints existed accept any repeat."""
    return not row.request_fingerprint or row.request_fingerprint == fingerprint(data)


@transaction.atomic
def chat_create(*, tenant_id: uuid.UUID, provider: Provider, chat: dict) -> tuple[Chat, bool]:
    """Create a chat with its participants. A repeat with the same body returns the existing chat unchanged;
    another body is 409 `id_conflict` (a chat created by a message carries that message's `chat`)."""
    result, created = _chat_get_or_create(tenant_id=tenant_id, provider=provider, chat=chat)
    if not created and not _same_request(result, chat):
        raise _id_conflict("Чат")
    return result, created


@transaction.atomic
def chat_update(*, chat: Chat, data: dict) -> Chat:
    """Update the given chat fields. `participants` are upserted by external id (one statement); none removed.

    `changed_at` (optional, the provider's change time) older than the stored one is 409 `stale_update`.
    """
    locked = Chat.objects.select_for_update().only("provider_changed_at").get(pk=chat.pk)
    _refuse_stale(stored=locked.provider_changed_at, changed_at=data.get("changed_at"))
    chat.provider_changed_at = _newer(locked.provider_changed_at, data.get("changed_at"))
    update_fields = ["updated_at", "provider_changed_at"]
    for field in CHAT_FIELDS:
        if field in data:
            setattr(chat, field, data[field] if data[field] is not None else _empty(field))
            update_fields.append(field)
    if "channel_id" in data:
        chat.channel = _channel_resolve(tenant_id=chat.tenant_id, provider=chat.provider,
                                        channel_id=data["channel_id"], error_path=("channelId",))
        update_fields.append("channel")
    chat.save(update_fields=update_fields)
    if data.get("participants"):
        Participant.objects.bulk_create(
            _participants_build(chat, data["participants"]), batch_size=PARTICIPANT_BATCH_SIZE,
            update_conflicts=True, unique_fields=["chat", "external_id"], update_fields=list(PARTICIPANT_FIELDS),
        )
    return chat


def chat_mark_seen(*, chat: Chat) -> int:
    """Mark every unread message of the chat as read with one UPDATE. Returns how many flipped."""
    return Message.objects.filter(chat=chat, seen_flag=False).update(seen_flag=True, updated_at=timezone.now())


# --- messages -------------------------------------------------------------------------------

def _message_fields(data: dict, digest: str = "") -> dict:
    """A message's own columns from validated data (attnames; scope, chat and timestamps apart). `digest`: its
    `fingerprint`, when the caller has it already."""
    direction = data.get("direction") or Message.Direction.INCOMING
    return {
        "external_id": data["external_id"], "direction": direction, "text": data.get("text") or "",
        "sender_external_id": data.get("sender_id") or "", "sent_at": data.get("sent_at"),
        "status": data.get("status") or Message.Status.SENT, "reply_to_external_id": data.get("reply_to") or "",
        "status_error": data.get("status_error") or "", "request_fingerprint": digest or fingerprint(data),
        # what we send ourselves counts as read; incoming messages wait for `seen`
        "seen_flag": direction == Message.Direction.OUTGOING,
    }


def _message_build(*, tenant_id, provider, chat: Chat, data: dict) -> Message:
    return Message(tenant_id=tenant_id, provider=provider, chat=chat, **_message_fields(data))


@functools.cache
def _known_chat_insert_sql() -> tuple[str, list, list[str]]:
    """(SQL, message fields it inserts, chat attnames it returns), from the models' metadata only.

    One statement: the message INSERT … SELECT its chat (with the quoted message's id, when that one is
    known) … ON CONFLICT DO NOTHING, the UPDATE that links the messages already waiting for this one
    (their `replyTo` names it), and the stored row's id and reply link with the chat's row. The UPDATE
    is a sibling of the INSERT: it sees the table as before the statement, which is what it needs."""
    fields = [f for f in Message._meta.concrete_fields if f.name not in ("id", "chat", "reply_to")]
    q = connection.ops.quote_name
    message, chat = q(Message._meta.db_table), q(Chat._meta.db_table)
    chat_fields = Chat._meta.concrete_fields
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
    sql = (f"WITH stored AS (INSERT INTO {message} "  # noqa: S608 (names from the models)
           f"({', '.join(q(f.column) for f in fields)}, chat_id, reply_to_id) "
           f"SELECT {casts}, c.id, (SELECT quoted.id FROM {message} quoted WHERE quoted.tenant_id = c.tenant_id "
           "AND quoted.provider_id = c.provider_id AND quoted.external_id = NULLIF(%s, '')) "
           f"FROM {chat} c WHERE c.tenant_id = %s AND c.provider_id = %s AND c.external_id = %s "
           "ON CONFLICT (tenant_id, provider_id, external_id) DO NOTHING "
           "RETURNING id, chat_id, reply_to_id, tenant_id, provider_id, external_id), "
           f"linked AS (UPDATE {message} waiting SET reply_to_id = stored.id FROM stored "
           "WHERE waiting.tenant_id = stored.tenant_id AND waiting.provider_id = stored.provider_id "
           "AND waiting.reply_to_external_id = stored.external_id AND waiting.reply_to_id IS NULL "
           "AND waiting.reply_to_external_id <> '') "
           f"SELECT stored.id, stored.reply_to_id, {', '.join('c.' + q(f.column) for f in chat_fields)} "
           f"FROM stored JOIN {chat} c ON c.id = stored.chat_id")
    return sql, fields, [f.attname for f in chat_fields]


def _message_insert_into_known_chat(*, tenant_id, provider, data: dict) -> Message | None:
    """The common case in one statement (issue 19, bench S1): a new message into a chat we know, its own
    reply link and the links of the messages that quote it included (`_known_chat_insert_sql`).
    None when the chat is unknown or the id is taken (a repeat): the caller takes the general path.
    PostgreSQL only."""
    sql, fields, chat_attnames = _known_chat_insert_sql()
    message = _message_build(tenant_id=tenant_id, provider=provider, chat=None, data=data)
    values = [f.get_db_prep_save(f.pre_save(message, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, message.reply_to_external_id, tenant_id, provider.pk,
                             data["chat"]["external_id"]])
        row = cursor.fetchone()
    if row is None:
        return None
    message.pk, message.reply_to_id = row[0], row[1]
    message.chat = Chat.from_db(connection.alias, chat_attnames, row[2:])
    message.chat.provider = provider
    message._state.adding, message._state.db = False, connection.alias
    return message


def message_create(*, tenant_id: uuid.UUID, provider: Provider, data: dict) -> tuple[Message, bool]:
    """Store one message; create its chat (with participants) if the chat is new.

    `data`: external_id, chat (see module doc), direction, text, sender_id, sent_at, status, attachments,
    reply_to (services/attachments.py). Text is stored exactly as sent. Returns (message, created); a repeat with the same body returns the
    existing message untouched, another body is 409 `id_conflict`.
    """
    # The common case in one statement on PostgreSQL: a new message, without attachments, into a known chat,
    # with its replies linked (a message quoting itself takes the general path: the INSERT can't see its row).
    if (connection.vendor == "postgresql" and not data.get("attachments")
            and data.get("reply_to") != data["external_id"]):
        message = _message_insert_into_known_chat(tenant_id=tenant_id, provider=provider, data=data)
        if message is not None:
            # It came without attachments: the answer lists none without reading them.
            known_empty(message, "attachments")
            return message, True
    return _message_create(tenant_id=tenant_id, provider=provider, data=data)


@transaction.atomic
def _message_create(*, tenant_id: uuid.UUID, provider: Provider, data: dict) -> tuple[Message, bool]:
    lookup = {"tenant_id": tenant_id, "provider": provider, "external_id": data["external_id"]}
    existing = Message.objects.select_related("chat").filter(**lookup).first()
    if existing is not None:
        if not _same_request(existing, data):
            raise _id_conflict("Сообщение")
        return existing, False
    uploads = attachment_services.uploads_for(tenant_id=tenant_id, provider=provider, items=[data])
    attachment_services.refuse_missing_uploads(data, uploads)
    chat, _ = _chat_get_or_create(tenant_id=tenant_id, provider=provider, chat=data["chat"], error_path=("chat",))
    try:
        with transaction.atomic():
            message = _message_build(tenant_id=tenant_id, provider=provider, chat=chat, data=data)
            message.save(force_insert=True)
            attachment_services.attachments_create([(message, data.get("attachments") or [])], uploads)
            if attachment_services.replies_resolve(tenant_id=tenant_id, provider=provider,
                                                   external_ids=[message.external_id]):
                message.refresh_from_db(fields=["reply_to"])
    except IntegrityError:  # a concurrent request stored it first
        existing = Message.objects.select_related("chat").get(**lookup)
        if not _same_request(existing, data):
            raise _id_conflict("Сообщение")
        return existing, False
    return message, True


@transaction.atomic
def message_update_text(*, message: Message, text: str, changed_at: datetime | None = None) -> Message:
    """Replace only the text; keep the previous text and the time in the edit history.

    `changed_at` (the provider's change time, optional) older than the stored one is 409 `stale_update`.
    """
    locked = Message.objects.select_for_update(no_key=True).get(pk=message.pk)  # a reply's key-share check passes
    _refuse_stale(stored=locked.provider_changed_at, changed_at=changed_at)
    newer = _newer(locked.provider_changed_at, changed_at)
    if newer != locked.provider_changed_at:
        Message.objects.filter(pk=message.pk).update(provider_changed_at=newer)
        message.provider_changed_at = newer
    if locked.text == text:
        return message
    now = timezone.now()
    MessageEdit.objects.create(message=message, previous_text=locked.text, new_text=text)
    Message.objects.filter(pk=message.pk).update(text=text, edited_at=now, updated_at=now)
    message.text, message.edited_at, message.updated_at = text, now, now
    return message


@transaction.atomic
def message_set_status(*, message: Message, status: str, error: str = "") -> Message:
    """Set the status and append it to the status history, forward only: sent -> delivered -> read, and
    failed (from any of them) is final. A stale or repeated status changes and records nothing; the
    message comes back with its current state.

    `error` describes a `failed` status and is cleared for any other status.
    """
    if status not in Message.Status.values:
        raise ApplicationError("Неизвестный статус.", field="status")
    error = error if status == Message.Status.FAILED else ""
    locked = Message.objects.select_for_update(no_key=True).get(pk=message.pk)  # a reply's key-share check passes
    if STATUS_RANK[status] <= STATUS_RANK[locked.status]:
        status, error = locked.status, locked.status_error
    if (locked.status, locked.status_error) != (status, error):
        now = timezone.now()
        MessageStatusHistory.objects.create(message=message, status=status, error=error)
        Message.objects.filter(pk=message.pk).update(status=status, status_error=error, updated_at=now)
        message.updated_at = now
    message.status, message.status_error = status, error
    return message


# --- bulk ---------------------------------------------------------------------------------------

@dataclass
class BulkItemResult:
    index: int
    id: str | None
    result: str  # created | duplicate | error
    errors: dict | None = None


@transaction.atomic(savepoint=False)  # the caller's savepoint (inbound._store) already makes it all or nothing
def messages_bulk_create(*, tenant_id: uuid.UUID, provider: Provider, items: list[tuple[int, dict]],
                         conflicts: bool = False, received_at: datetime | None = None) -> dict[int, BulkItemResult]:
    """Store many validated messages with a constant number of queries.

    `items` are (index, data) pairs as for `message_create`. Each item is judged on its
    own: an unknown channel fails only that item. Within the batch the first occurrence of
    a message id wins, later ones are duplicates; the first occurrence of a chat id defines
    the chat and its participants. With `conflicts` (the public API), a known id with another
    body is an item error (`id`) instead of a duplicate. A message another transaction stored
    meanwhile is a duplicate. `received_at`: when the messages arrived (their `created_at`), if not now — an
    initial-sync page imported after it was fetched.

    Statements: known messages, known chats; for new chats the channels (if named), the sandbox check, one
    INSERT of the chats and one of their participants; one INSERT of the messages; the replies UPDATE.
    """
    scope = {"tenant_id": tenant_id, "provider": provider}
    results: dict[int, BulkItemResult] = {}
    known = dict(_scoped_rows(Message, ("external_id", "request_fingerprint"), scope, "external_id",
                              [d["external_id"] for _, d in items]))
    new_items = []
    for index, data in items:
        message_id = data["external_id"]
        if message_id not in known:
            known[message_id] = fingerprint(data)
            new_items.append((index, data))
        elif conflicts and known[message_id] and known[message_id] != fingerprint(data):
            results[index] = BulkItemResult(index, message_id, "error", {"id": [_id_conflict("Сообщение").message]})
        else:
            results[index] = BulkItemResult(index, message_id, "duplicate")

    chat_payloads: dict[str, dict] = {}
    for _, data in new_items:
        chat_payloads.setdefault(data["chat"]["external_id"], data["chat"])
    chats = (dict(_scoped_rows(Chat, ("external_id", "id"), scope, "external_id", list(chat_payloads)))
             if chat_payloads else {})  # external id → primary key
    missing = {cid: payload for cid, payload in chat_payloads.items() if cid not in chats}

    channel_ids = {p["channel_id"] for p in missing.values() if p.get("channel_id")}
    channels = ({c.external_id: c for c in Channel.objects.filter(**scope, external_id__in=channel_ids)}
                if channel_ids else {})
    bad_chats = {cid for cid, p in missing.items() if p.get("channel_id") and p["channel_id"] not in channels}
    to_create = [cid for cid in missing if cid not in bad_chats]
    over_limit: list[str] = []  # new chats past a developer sandbox's chat limit, in request order
    if to_create:
        room = sandbox_limits.sandbox_chat_room(tenant_id=tenant_id)
        if room is not None and len(to_create) > room:
            to_create, over_limit = to_create[:room], to_create[room:]
    if to_create:
        # In key order: concurrent pages (a sync's imports, bulk requests) wait for each other's new chats in one
        # order, never in a cycle (PostgreSQL would break the deadlock after a second and abort one of them).
        _chats_create(scope, sorted(to_create), missing, channels, chats)

    uploads = attachment_services.uploads_for(**scope, items=[data for _, data in new_items])
    available = dict(uploads)  # an upload is used once: a second item referencing it is an error
    to_insert = []
    for index, data in new_items:
        if data["chat"]["external_id"] in bad_chats:
            results[index] = BulkItemResult(index, data["external_id"], "error",
                                            {"chat": {"channelId": ["Канал с таким id не подключён."]}})
        elif data["chat"]["external_id"] in over_limit:
            results[index] = BulkItemResult(index, data["external_id"], "error",
                                            sandbox_limits.sandbox_chat_limit_error(("chat", "id")).fields)
        elif upload_errors := attachment_services.missing_uploads(data, available):
            results[index] = BulkItemResult(index, data["external_id"], "error", upload_errors)
        else:
            to_insert.append((index, data))
            for item in data.get("attachments") or ():
                available.pop(item.get("upload_id"), None)
    stored = dict(insert_rows(Message, [
        {**_message_fields(d, known[d["external_id"]]), "tenant_id": tenant_id, "provider_id": provider.pk,
         "chat_id": chats[d["chat"]["external_id"]], **({"created_at": received_at} if received_at else {})}
        for _, d in to_insert], returning=("external_id", "id")))
    with_attachments = {d["external_id"]: d["attachments"] for _, d in to_insert
                        if d.get("attachments") and d["external_id"] in stored}
    if with_attachments:
        rows = Message.objects.filter(pk__in=[stored[message_id] for message_id in with_attachments])
        attachment_services.attachments_create([(m, with_attachments[m.external_id]) for m in rows], uploads)
    _replies_link(scope, stored=list(stored),
                  quoting=[d["external_id"] for _, d in to_insert if d.get("reply_to") and d["external_id"] in stored])
    for index, data in to_insert:
        results[index] = BulkItemResult(index, data["external_id"],
                                        "created" if data["external_id"] in stored else "duplicate")
    return results


def _scoped_rows(model, columns: tuple[str, ...], scope: dict, key: str, values: list) -> list[tuple]:
    """`columns` of the scope's rows whose `key` is one of `values`: plain SQL, one array parameter on PostgreSQL
    (issue 19: the ORM's `__in` of a page of keys cost more to build and parse than to run)."""
    db = connections[router.db_for_read(model)]
    field = model._meta.get_field
    match, params = any_of(db.ops.quote_name(field(key).column), values, db)
    sql = (f"SELECT {', '.join(db.ops.quote_name(field(c).column) for c in columns)} "  # noqa: S608 (model's names)
           f"FROM {db.ops.quote_name(model._meta.db_table)} WHERE tenant_id = %s AND provider_id = %s AND {match}")
    with db.cursor() as cursor:
        cursor.execute(sql, [field("tenant_id").get_db_prep_value(scope["tenant_id"], db), scope["provider"].pk,
                             *params])
        return cursor.fetchall()


def replies_link(*, tenant_id: uuid.UUID, provider: Provider, external_ids: list[str]) -> None:
    """`_replies_link` for messages stored earlier in the caller's transaction, once it sees what other transactions
    have committed since (the initial sync's parallel imports: a reply and its quote in pages imported at once)."""
    _replies_link({"tenant_id": tenant_id, "provider": provider}, stored=external_ids, quoting=external_ids)


def _replies_link(scope: dict, *, stored: list[str], quoting: list[str]) -> None:
    """After a page's INSERT: link the replies among and to the `stored` messages to the quoted message, when it
    is known — the new messages that quote one (`quoting`), and the earlier ones that quote a new one. As
    `replies_resolve` (services/attachments.py), as one plain UPDATE … FROM on PostgreSQL; a reply whose quoted
    message is unknown is left as it is (waiting), not written."""
    if not stored or connection.vendor != "postgresql":
        attachment_services.replies_resolve(**scope, external_ids=stored)
        return
    with connection.cursor() as cursor:
        cursor.execute(*_replies_update(
            "m.tenant_id = %s AND m.provider_id = %s AND (m.external_id = ANY(%s) OR m.reply_to_external_id = ANY(%s))",
            [scope["tenant_id"], scope["provider"].pk, quoting, stored]))


def replies_relink_recent(*, minutes: float | None = None) -> int:
    """Beat: link the replies stored in the last `minutes` (REPLIES_RELINK_MINUTES) whose quoted message is known
    now. A reply and its quote stored by two transactions at the same moment (two requests, or a bulk request beside
    a sync's page) cannot see each other's rows, so neither links them; this catches them up. Returns how many."""
    since = timezone.now() - timedelta(minutes=settings.REPLIES_RELINK_MINUTES if minutes is None else minutes)
    if connection.vendor != "postgresql":
        return attachment_services.replies_resolve_since(since=since)
    with connection.cursor() as cursor:
        cursor.execute(*replies_relink_statement(since))
        return cursor.rowcount


def replies_relink_statement(since) -> tuple[str, list]:
    """`replies_relink_recent`'s UPDATE on PostgreSQL (also for the EXPLAIN test): through the partial index
    `message_recent_reply_idx`."""
    return _replies_update("m.created_at >= %s", [since])


def _replies_update(where: str, params: list) -> tuple[str, list]:
    """The UPDATE … FROM that links the waiting replies matching `where` (over `m`) to their quoted message `q`. The
    waiting condition is written out, not bound: a prepared statement's generic plan may then read the partial
    indexes of waiting replies."""
    table = Message._meta.db_table
    return (f"UPDATE {table} AS m SET reply_to_id = q.id FROM {table} AS q "  # noqa: S608 (the model's table)
            f"WHERE m.reply_to_id IS NULL AND m.reply_to_external_id <> '' AND {where} "
            "AND q.tenant_id = m.tenant_id AND q.provider_id = m.provider_id AND q.external_id = m.reply_to_external_id",
            params)


def _chats_create(scope: dict, to_create: list[str], payloads: dict, channels: dict, chats: dict) -> None:
    """One INSERT of the new chats and one of their participants; adds their ids to `chats`. A chat another
    transaction created meanwhile is read back (its creator stored its participants; ours are added
    where they are missing)."""
    tenant_id, provider_id = scope["tenant_id"], scope["provider"].pk
    chats.update(insert_rows(Chat, [
        {"tenant_id": tenant_id, "provider_id": provider_id, "external_id": cid,
         "channel_id": channels[payloads[cid]["channel_id"]].pk if payloads[cid].get("channel_id") else None,
         "request_fingerprint": fingerprint(payloads[cid]),
         **{f: payloads[cid].get(f) or _empty(f) for f in CHAT_FIELDS}} for cid in to_create],
        returning=("external_id", "id")))
    raced = [cid for cid in to_create if cid not in chats]
    if raced:
        chats.update(Chat.objects.filter(**scope, external_id__in=raced).values_list("external_id", "pk"))
    insert_rows(Participant, [
        {"chat_id": chats[cid], "external_id": p["external_id"], **{f: p.get(f) or _empty(f) for f in PARTICIPANT_FIELDS}}
        for cid in to_create if cid in chats for p in payloads[cid].get("participants") or []])


# --- webhooks -----------------------------------------------------------------------------------

@transaction.atomic
def webhook_set(*, tenant_id: uuid.UUID, provider: Provider, url: str, events: list[str],
                rotate_secret: bool = False) -> tuple[Webhook, bool, str | None]:
    """Set the tenant+provider's one webhook. Returns (webhook, created, secret-to-show-once or None).

    A new webhook gets a fresh secret. Setting it again changes the URL and events and keeps
    the secret (so a retried request can't lock the provider out), unless `rotate_secret`.
    """
    webhook = Webhook.objects.select_for_update().filter(tenant_id=tenant_id, provider=provider).first()
    if webhook is None:
        secret = webhook_secret_generate()
        try:
            with transaction.atomic():
                webhook = Webhook.objects.create(tenant_id=tenant_id, provider=provider, url=url, events=events,
                                                 secret=secret)
            return webhook, True, secret
        except IntegrityError:
            webhook = Webhook.objects.select_for_update().get(tenant_id=tenant_id, provider=provider)
    webhook.url, webhook.events = url, events
    secret = webhook_secret_generate() if rotate_secret else None
    if secret:
        webhook.secret = secret
    webhook.save(update_fields=["url", "events", "secret", "updated_at"])
    return webhook, False, secret


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()
