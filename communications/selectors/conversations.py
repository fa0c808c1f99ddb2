"""Reads of conversations. Every lookup takes the tenant + provider scope, so a caller can't forget it.

An id of another tenant or provider raises `NotFoundError`, exactly like an unknown id.
"""

import uuid

from django.db import connection
from django.db.models import BooleanField, Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from communications.models import (
    Attachment,
    Channel,
    Chat,
    IntegrationToken,
    Message,
    Provider,
    TenantConfiguration,
    Webhook,
)
from config.errors import NotFoundError
from config.sql import MARK_UUID, compiled


def integration_token_get_for_request(*, jti: str) -> IntegrationToken | None:
    """The token with its provider and whether the tenant still has an active configuration: one query, compiled
    once per thread (issue 19: building it cost the ORM more CPU than running it, on every public API call)."""
    try:
        jti = uuid.UUID(str(jti))
    except ValueError:
        return None
    return compiled(("integration-token",), _token_queryset, MARK_UUID).get(jti)


def _token_queryset() -> QuerySet:
    configured = TenantConfiguration.objects.filter(
        tenant_id=OuterRef("tenant_id"), provider_id=OuterRef("provider_id"), status=TenantConfiguration.Status.ACTIVE,
    )
    return (IntegrationToken.objects.select_related("provider")
            .annotate(has_active_configuration=Exists(configured)).filter(jti=MARK_UUID))


def integration_token_list(*, tenant_id: uuid.UUID | None = None, provider: Provider | None = None) -> QuerySet:
    qs = IntegrationToken.objects.select_related("provider")
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if provider is not None:
        qs = qs.filter(provider=provider)
    return qs


def integration_token_get(*, jti) -> IntegrationToken:
    try:
        return IntegrationToken.objects.select_related("provider").get(jti=uuid.UUID(str(jti)))
    except (ValueError, IntegrationToken.DoesNotExist):
        raise NotFoundError("Токен не найден.")


def channel_get(*, tenant_id: uuid.UUID, provider: Provider, channel_id: str) -> Channel:
    channel = (Channel.objects.select_related("account")
               .filter(tenant_id=tenant_id, provider=provider, external_id=channel_id).first())
    if channel is None:
        raise NotFoundError("Канал не найден.")
    return channel


def chat_list(*, tenant_id: uuid.UUID, provider: Provider) -> QuerySet:
    return Chat.objects.filter(tenant_id=tenant_id, provider=provider).select_related("channel")


def chat_list_for_operator(*, tenant_id: uuid.UUID, provider: Provider, channel_id: str = "", search: str = "",
                           unread: bool | None = None) -> QuerySet:
    """The tenant's chats for the CRM operator, newest change first, each with `unread_count`.

    The count is a correlated subquery, so PostgreSQL computes it only for the page it returns (walking
    `chat_operator_list_idx` in order) instead of grouping every message of the tenant (issue 19). It counts rows,
    not keys, and `message_chat_unread_idx` holds every column it reads: an index-only scan, no heap page per unread
    message (5,523 buffers → 193 for a page of 50 chats with 121 unread each)."""
    unread_of_chat = (Message.objects.filter(chat=OuterRef("pk"), seen_flag=False,
                                             direction=Message.Direction.INCOMING)
                      .order_by().values("chat").annotate(n=Count("*")).values("n"))
    chats = chat_list(tenant_id=tenant_id, provider=provider).annotate(
        unread_count=Coalesce(Subquery(unread_of_chat, output_field=IntegerField()), Value(0)))
    if channel_id:
        chats = chats.filter(channel__external_id=channel_id)
    if search:
        chats = chats.filter(title__icontains=search)
    if unread is not None:
        has_unread = Exists(Message.objects.filter(chat=OuterRef("pk"), seen_flag=False,
                                                   direction=Message.Direction.INCOMING))
        chats = chats.filter(has_unread) if unread else chats.exclude(has_unread)
    return chats.order_by("-updated_at", "-id")


def chat_get(*, tenant_id: uuid.UUID, provider: Provider, chat_id: str) -> Chat:
    chat = chat_list(tenant_id=tenant_id, provider=provider).filter(external_id=chat_id).first()
    if chat is None:
        raise NotFoundError("Чат не найден.")
    return chat


def message_list(*, tenant_id: uuid.UUID, provider: Provider, chat: Chat | None = None) -> QuerySet:
    qs = Message.objects.filter(tenant_id=tenant_id, provider=provider).select_related("chat")
    return qs.filter(chat=chat) if chat is not None else qs


def message_list_for_operator(*, tenant_id: uuid.UUID, provider: Provider, chat: Chat, direction: str = "",
                              status: str = "", since=None) -> QuerySet:
    """A chat's messages for the CRM operator, newest first. PostgreSQL walks `message_chat_time_idx` backwards, so a
    page reads its own rows, not every message of the chat; the chat is known, so it is not joined to each row (the
    caller sets it on the page's rows). The chat is the tenant's and provider's (`chat_get`), and so are its messages:
    naming them again made PostgreSQL multiply the two selectivities, expect a handful of rows and sort the whole
    chat for each page. The chat's key is written into the SQL (an integer of ours), so the plan is always made with
    it: a prepared statement's generic plan assumes the average chat, a few rows, and sorted every message of a long
    one (communications/tests/performance/test_explain.py)."""
    if (chat.tenant_id, chat.provider_id) != (tenant_id, provider.pk):
        raise NotFoundError("Чат не найден.")
    column = f"{connection.ops.quote_name(Message._meta.db_table)}.{connection.ops.quote_name('chat_id')}"
    messages = Message.objects.filter(RawSQL(f"{column} = {int(chat.pk)}", [], output_field=BooleanField()))  # noqa: S611 (our names, an integer)
    if direction:
        messages = messages.filter(direction=direction)
    if status:
        messages = messages.filter(status=status)
    if since:
        messages = messages.filter(created_at__gte=since)
    return messages.order_by("-created_at", "-id")


def attachments_by_message(messages) -> dict[int, list]:
    """The attachments of these messages, in their order, by message key: one query, without `prefetch_related`'s
    queryset per message (~9 ms of a page of 50 messages under the profiler)."""
    found: dict[int, list] = {}
    keys = [message.pk for message in messages]
    if keys:
        for attachment in Attachment.objects.filter(message_id__in=keys):
            found.setdefault(attachment.message_id, []).append(attachment)
    return found


def message_get(*, tenant_id: uuid.UUID, provider: Provider, message_id: str) -> Message:
    message = message_list(tenant_id=tenant_id, provider=provider).filter(external_id=message_id).first()
    if message is None:
        raise NotFoundError("Сообщение не найдено.")
    return message


def webhook_get(*, tenant_id: uuid.UUID, provider: Provider) -> Webhook:
    webhook = Webhook.objects.filter(tenant_id=tenant_id, provider=provider).first()
    if webhook is None:
        raise NotFoundError("Вебхук не установлен.")
    return webhook
