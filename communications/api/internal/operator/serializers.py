"""Bodies of the CRM operator API (camelCase, like the public API). Input is strict: unknown fields are 400."""

import uuid

from rest_framework import serializers
from rest_framework.fields import empty

from communications.api.public import limits
from communications.api.public.serializers import (
    MessageOutFields,
    PublicAttachmentOutSerializer,
    PublicAttachmentSerializer,
    PublicMessageStatusSerializer,
    StrictSerializer,
    message_out_data,
)
from communications.models import Message
from communications.models.attachments import MEDIA_TYPE_CHOICES
from communications.services.operator import MAX_BROADCAST_CHATS
from config.api.fields import BlankFormValuesRefused, NonEmptyFileField, UniqueListField


class ScopeSerializer(StrictSerializer):
    tenantId = serializers.UUIDField(source="tenant_id", help_text="UUID тенанта SberCRM.")
    providerCode = serializers.CharField(source="provider_code", max_length=100, help_text="Код провайдера.")


class ChatListQuerySerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    providerCode = serializers.CharField(source="provider_code", max_length=100)
    # optional filters: an empty value means "no filter"
    channelId = serializers.CharField(source="channel_id", required=False, allow_blank=True,
                                      max_length=limits.MAX_ID_LENGTH)
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    search = serializers.CharField(required=False, allow_blank=True, max_length=255)


class MessageListQuerySerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    providerCode = serializers.CharField(source="provider_code", max_length=100)
    direction = serializers.ChoiceField(choices=Message.Direction.choices, required=False)
    status = serializers.ChoiceField(choices=Message.Status.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="Только сообщения, полученные не раньше.")


def _text(**kwargs):
    return serializers.CharField(max_length=limits.MAX_TEXT_LENGTH, trim_whitespace=False, **kwargs)


class TextSendSerializer(ScopeSerializer):
    text = _text(help_text="Текст сообщения, как есть.")
    operatorId = serializers.CharField(source="operator_id", required=False, allow_blank=True, default="",
                                       max_length=limits.MAX_ID_LENGTH, help_text="ID оператора CRM (отправитель).")


class OperatorAttachmentSerializer(PublicAttachmentSerializer):
    """As in the public API, but a file is always a prior upload (POST /operator/uploads), never a URL."""

    def validate(self, attrs):
        if "url" in attrs:
            raise serializers.ValidationError({"url": ["Сначала загрузите файл (POST /operator/uploads) и "
                                                       "передайте uploadId."]})
        return super().validate(attrs)


class MessageSendSerializer(TextSendSerializer):
    text = _text(required=False, allow_blank=True, default="",
                 help_text="Текст сообщения, как есть; может быть пустым, если есть вложения.")
    attachments = OperatorAttachmentSerializer(many=True, required=False, default=list,
                                               max_length=limits.MAX_ATTACHMENTS,
                                               help_text=f"До {limits.MAX_ATTACHMENTS} вложений: uploadId, "
                                                         "геопозиция или контакт.")
    replyTo = serializers.IntegerField(source="reply_to_id", required=False, allow_null=True, default=None,
                                       help_text="ID (в SberCRM) цитируемого сообщения этого чата.")

    def validate(self, attrs):
        if not attrs["text"] and not attrs["attachments"]:
            raise serializers.ValidationError({"text": ["Передайте текст или хотя бы одно вложение."]})
        return attrs


_SEND = MessageSendSerializer._declared_fields


class _Unsure(Exception):
    """The body is left to the serializer."""


def _string(name: str, body: dict, trim: bool):
    field, value = _SEND[name], body.get(name, empty)
    if value is empty:
        if field.required:
            raise _Unsure
        return field.default
    if not isinstance(value, str) or len(value) > field.max_length:  # the length sent counts (StrictSerializer)
        raise _Unsure
    value = value.strip() if trim else value
    if not value and not field.allow_blank:
        raise _Unsure
    return value


def message_send_validated(body) -> dict:
    """`MessageSendSerializer(data=body)`'s validated data (issue 19, bench S5: DRF's walk over the fields cost
    as much as the send's SQL). A plain body — a JSON object of known keys, strings, text, no attachments — is
    checked by hand against the serializer's declared fields (the parser has refused U+0000 and lone surrogates);
    anything else goes to the serializer, so errors are its own. `test_operator_validation.py` holds the two
    to the same answers."""
    try:
        if type(body) is not dict or not body.keys() <= _SEND.keys():
            raise _Unsure
        tenant_id = body.get("tenantId", empty)
        if not isinstance(tenant_id, str):
            raise _Unsure
        reply_to = body.get("replyTo")
        if body.get("attachments", []) != [] or not (reply_to is None or type(reply_to) is int):
            raise _Unsure
        data = {"tenant_id": uuid.UUID(hex=tenant_id),
                "provider_code": _string("providerCode", body, _SEND["providerCode"].trim_whitespace),
                "text": _string("text", body, _SEND["text"].trim_whitespace),
                "operator_id": _string("operatorId", body, _SEND["operatorId"].trim_whitespace),
                "attachments": [], "reply_to_id": reply_to}
        if not data["text"]:
            raise _Unsure
        return data
    except (_Unsure, ValueError):
        serializer = MessageSendSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class MessageEditSerializer(ScopeSerializer):
    schema_partial = False  # PATCH validates the whole body: scope and text are required
    text = _text(help_text="Новый текст исходящего сообщения.")


class MessageStatusSerializer(ScopeSerializer, PublicMessageStatusSerializer):
    """`status` and `error` with the public API's rule: an error only (and always) for `failed`."""


class BroadcastSerializer(TextSendSerializer):  # text only
    chatIds = UniqueListField(source="chat_ids", min_length=1, max_length=MAX_BROADCAST_CHATS,
                              child=serializers.CharField(max_length=limits.MAX_ID_LENGTH, trim_whitespace=False),
                              error_messages={"not_unique": "ID чатов не должны повторяться."},
                              help_text=f"ID чатов у провайдера, 1–{MAX_BROADCAST_CHATS}, без повторов.")


class OperatorChatSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id", help_text="ID чата у провайдера.")
    channelId = serializers.CharField(source="channel.external_id", allow_null=True, default=None)
    channelCode = serializers.CharField(source="channel.code", allow_null=True, default=None)
    title = serializers.CharField()
    type = serializers.CharField()
    unreadCount = serializers.IntegerField(source="unread_count", help_text="Непрочитанных входящих сообщений.")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


# What `operator_chat_data` reads: a `values_list` of the chat list's queryset, no model instances (issue 19).
OPERATOR_CHAT_COLUMNS = ("external_id", "channel__external_id", "channel__code", "title", "type", "unread_count",
                         "created_at", "updated_at")
_CHAT_MOMENT = OperatorChatSerializer._declared_fields["createdAt"].to_representation


class OperatorChatRows:
    """The chat list as its paginator takes it: the count is of the chats themselves, and a page is `values_list` rows
    of `OPERATOR_CHAT_COLUMNS`. Counting the rows would count through their LEFT JOIN of the channel, which PostgreSQL
    removes from the plan made with the values but not from the generic one a prepared statement keeps: that read
    every heap page of the tenant's chats (1,668 buffers for 2,100 chats) instead of the index (32)."""

    def __init__(self, chats):
        self.chats = chats

    def count(self) -> int:
        return self.chats.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        return self.chats.values_list(*OPERATOR_CHAT_COLUMNS)[key]


def operator_chat_data(row: tuple) -> dict:
    """`OperatorChatSerializer(chat).data` of a row of `OPERATOR_CHAT_COLUMNS`, built by hand: a page of 50 chats cost
    ~10,000 calls of DRF's walk over the fields and 100 model instances. `test_operator_api.py` holds the two equal."""
    external_id, channel_id, channel_code, title, kind, unread, created_at, updated_at = row
    return {"id": external_id, "channelId": channel_id, "channelCode": channel_code, "title": title, "type": kind,
            "unreadCount": unread, "createdAt": _CHAT_MOMENT(created_at), "updatedAt": _CHAT_MOMENT(updated_at)}


class _OperatorMessageIds(serializers.Serializer):
    id = serializers.IntegerField(source="pk", help_text="ID сообщения в SberCRM (стабилен; им пользуются действия).")
    externalId = serializers.CharField(
        source="external_id", help_text="ID у провайдера; у исходящего до ответа провайдера — временный crm-…")


class OperatorMessageSerializer(_OperatorMessageIds, MessageOutFields):
    replyTo = serializers.IntegerField(source="reply_to_id", allow_null=True,
                                       help_text="ID (в SberCRM) цитируемого сообщения, если оно известно.")
    replyToExternalId = serializers.CharField(source="reply_to_external_id",
                                              help_text="ID цитируемого сообщения у провайдера (как передан).")
    attachments = PublicAttachmentOutSerializer(many=True, source="attachments.all")


def operator_message_data(message: Message) -> dict:
    """`OperatorMessageSerializer(message).data` of a message without attachments, built by hand
    (`message_out_data`). `test_operator_api.py` holds the two equal."""
    return {"id": message.pk, "externalId": message.external_id, **message_out_data(message),
            "replyTo": message.reply_to_id, "replyToExternalId": message.reply_to_external_id, "attachments": []}


def operator_messages_data(messages, attachments: dict[int, list]) -> list[dict]:
    """`OperatorMessageSerializer(messages, many=True).data` of a page (each message's chat set on it; `attachments`:
    by message key, `attachments_by_message`), built by hand (`operator_message_data`); a message's attachments, where it has any,
    by their serializer. `test_operator_api.py` holds the two equal."""
    page = []
    for message in messages:
        data = operator_message_data(message)
        attachments_of = attachments.get(message.pk)
        if attachments_of:
            data["attachments"] = PublicAttachmentOutSerializer(attachments_of, many=True).data
        page.append(data)
    return page


class OperatorUploadSerializer(BlankFormValuesRefused, ScopeSerializer):
    file = NonEmptyFileField(help_text="Файл (multipart/form-data), не пустой.")
    type = serializers.ChoiceField(choices=MEDIA_TYPE_CHOICES, required=False)
    mimeType = serializers.CharField(source="mime_type", max_length=127, required=False, allow_blank=True,
                                     default="")


class ChatReadResultSerializer(serializers.Serializer):
    chatId = serializers.CharField()
    updated = serializers.IntegerField(help_text="Сколько сообщений отмечено прочитанными.")


class BroadcastResultSerializer(serializers.Serializer):
    endpoint = serializers.ChoiceField(choices=[("bulkMessages", "bulkMessages"), ("sendMessage", "sendMessage")],
                                       help_text="Каким вызовом провайдера отправлена рассылка.")
    messages = OperatorMessageSerializer(many=True)
