"""Request and response bodies of the public API (camelCase fields, as in the module configuration).

Input serializers are strict: an unknown field is a 400 naming it, so a typo never
silently drops data. Validated data comes out snake_case for the services.
"""

import json
from collections.abc import Mapping

from rest_framework import serializers

from communications.api.public import limits
from communications.channels import channel_kind
from communications.models import Attachment, Message, Webhook
from communications.services import files
from config.api.fields import JSONObjectField, RFC3339DateTimeField, UniqueListField, json_type_error
from config.api.schema import ErrorEnvelopeSerializer


class StrictSerializer(serializers.Serializer):
    # Unknown fields are refused, and JSON types are taken as the schema says: DRF would turn a number
    # into the text of a string field and "false" or 0 into a boolean.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - {name for name, f in self.fields.items() if not f.read_only})
            if unknown:
                raise serializers.ValidationError({name: ["Неизвестное поле."] for name in unknown})
            wrong = {name: [message] for name, field in self.fields.items() if name in data
                     and (message := json_type_error(field, data[name]))}
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)



def validate_each(serializer_class, items: list) -> tuple[list[tuple[int, dict]], dict[int, dict]]:
    """Validate list items independently with ONE serializer instance.

    Same result as `serializer_class(data=item).is_valid()` per item, but the serializer's
    fields (and its nested serializers' fields) are built once, not once per item: building
    them was most of the cost of a 100-message bulk request or a 200-message history page.
    Returns `([(index, validated_data)], {index: errors shaped like serializer.errors})`.
    """
    serializer = serializer_class()
    valid, errors = [], {}
    for index, item in enumerate(items):
        try:
            valid.append((index, serializer.run_validation(item)))
        except serializers.ValidationError as exc:
            errors[index] = exc.detail
    return valid, errors

def _external_id(**kwargs):
    return serializers.CharField(max_length=limits.MAX_ID_LENGTH, **kwargs)


def _metadata_validate(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("Ожидается JSON-объект.")
    if len(json.dumps(value, ensure_ascii=False).encode()) > limits.MAX_METADATA_BYTES:
        raise serializers.ValidationError(f"Не больше {limits.MAX_METADATA_BYTES} байт в JSON.")
    return value


def _metadata(**kwargs):
    return JSONObjectField(validators=[_metadata_validate], help_text="Произвольный JSON-объект провайдера.",
                                 **kwargs)


PublicErrorSerializer = ErrorEnvelopeSerializer  # the one error schema of every document


# --- channels ---------------------------------------------------------------------------

class PublicChannelConnectSerializer(StrictSerializer):
    id = _external_id(source="external_id", help_text="ID канала у провайдера.")
    code = serializers.CharField(max_length=64, help_text="Код канала: telegram, whatsapp, vk, viber, max, avito…")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    metadata = _metadata(required=False, default=dict)


class PublicChannelUpdateSerializer(StrictSerializer):
    schema_min_properties = 1  # validate(): at least one field to change
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    metadata = _metadata(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Передайте name и/или metadata.")
        return attrs


def _changed_at():
    return serializers.DateTimeField(
        source="changed_at", required=False,
        help_text="Время изменения у провайдера (ISO 8601). Если сохранённое изменение новее — 409 stale_update.")


class PublicChannelSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id")
    code = serializers.CharField()
    name = serializers.CharField()
    displayName = serializers.SerializerMethodField(help_text="Название канала в SberCRM (для неизвестных кодов — код).")
    iconUrl = serializers.SerializerMethodField(help_text="Иконка канала; для неизвестных кодов — иконка-заглушка.")
    known = serializers.SerializerMethodField(help_text="Поддерживается ли код канала модулем коммуникаций.")
    active = serializers.BooleanField(source="account.is_active")
    metadata = serializers.JSONField()
    connectedAt = serializers.DateTimeField(source="created_at")

    def get_displayName(self, channel) -> str:
        return channel_kind(channel.code).name

    def get_iconUrl(self, channel) -> str:
        return channel_kind(channel.code).icon_url

    def get_known(self, channel) -> bool:
        return channel_kind(channel.code).known


# --- chats --------------------------------------------------------------------------------

class PublicParticipantSerializer(StrictSerializer):
    id = _external_id(source="external_id", help_text="ID участника у провайдера.")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    username = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    metadata = _metadata(required=False, default=dict)


def _participants(**kwargs):
    return PublicParticipantSerializer(many=True, max_length=limits.MAX_PARTICIPANTS,
                                       help_text=f"Не больше {limits.MAX_PARTICIPANTS} участников.", **kwargs)


class _ParticipantsMixin:
    def validate_participants(self, participants):
        ids = [p["external_id"] for p in participants]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("ID участников в чате должны быть уникальны.")
        return participants


class PublicChatCreateSerializer(_ParticipantsMixin, StrictSerializer):
    id = _external_id(source="external_id", help_text="ID чата у провайдера.")
    channelId = _external_id(source="channel_id", required=False, allow_null=True,
                             help_text="ID подключённого канала, к которому относится чат.")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    type = serializers.CharField(max_length=32, required=False, allow_blank=True, default="",
                                 help_text="Тип чата у провайдера, например private или group.")
    metadata = _metadata(required=False, default=dict)
    participants = _participants(required=False, default=list)


class PublicChatUpdateSerializer(_ParticipantsMixin, StrictSerializer):
    schema_min_properties = 1  # validate(): at least one field to change
    channelId = _external_id(source="channel_id", required=False, allow_null=True)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    type = serializers.CharField(max_length=32, required=False, allow_blank=True)
    metadata = _metadata(required=False)
    participants = _participants(required=False)
    changedAt = _changed_at()

    def validate(self, attrs):
        if not set(attrs) - {"changed_at"}:
            raise serializers.ValidationError("Передайте хотя бы одно поле для изменения.")
        return attrs


class PublicParticipantOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id")
    name = serializers.CharField()
    username = serializers.CharField()
    phone = serializers.CharField()
    metadata = serializers.JSONField()


class PublicChatSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id")
    channelId = serializers.CharField(source="channel.external_id", allow_null=True, default=None)
    title = serializers.CharField()
    type = serializers.CharField()
    metadata = serializers.JSONField()
    participants = PublicParticipantOutSerializer(many=True, source="participants.all")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class PublicChatSeenSerializer(serializers.Serializer):
    chatId = serializers.CharField()
    updated = serializers.IntegerField(help_text="Сколько непрочитанных сообщений отмечено прочитанными.")


# --- messages -----------------------------------------------------------------------------

class PublicLocationSerializer(StrictSerializer):
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class PublicContactSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


MIME_TYPE_RE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"


class PublicAttachmentSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=Attachment.Type.choices)
    url = serializers.URLField(max_length=limits.MAX_ATTACHMENT_URL_LENGTH, required=False,
                               help_text="Откуда забрать файл (http/https); загружается в фоне.")
    uploadId = serializers.UUIDField(source="upload_id", required=False,
                                     help_text="ID прямой загрузки (POST /uploads) этого тенанта и провайдера.")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    mimeType = serializers.RegexField(MIME_TYPE_RE, source="mime_type", max_length=127, required=False,
                                      allow_blank=True, default="")
    size = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None,
                                    help_text="Размер в байтах, как его знает провайдер.")
    location = PublicLocationSerializer(required=False, help_text="Для type=location.")
    contact = PublicContactSerializer(required=False, help_text="Для type=contact.")

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Нужен http(s) URL.")
        return value

    def validate(self, attrs):
        kind = attrs["type"]
        sources = [key for key in ("url", "upload_id") if key in attrs]
        if kind in Attachment.MEDIA_TYPES:
            if len(sources) != 1:
                raise serializers.ValidationError({"url": ["Передайте ровно одно из полей url и uploadId."]})
        elif sources:
            raise serializers.ValidationError({sources[0] if sources[0] == "url" else "uploadId": [
                f"Для type={kind} файл не передаётся."]})
        for key in ("location", "contact"):
            if kind == key and key not in attrs:
                raise serializers.ValidationError({key: ["Это поле обязательно для этого типа."]})
            if kind != key and key in attrs:
                raise serializers.ValidationError({key: [f"Допустимо только для type={key}."]})
        return attrs


class PublicMessageCreateSerializer(StrictSerializer):
    id = _external_id(source="external_id", help_text="ID сообщения у провайдера.")
    chat = PublicChatCreateSerializer(help_text="Чат сообщения со всеми участниками; создаётся, если его ещё нет.")
    direction = serializers.ChoiceField(choices=Message.Direction.choices, required=False,
                                        default=Message.Direction.INCOMING)
    text = serializers.CharField(max_length=limits.MAX_TEXT_LENGTH, trim_whitespace=False, required=False,
                                 allow_blank=True, default="",
                                 help_text="Текст сохраняется как есть, со всеми спецсимволами; форматирования нет. "
                                           "Может быть пустым, если есть вложения.")
    senderId = _external_id(source="sender_id", required=False, allow_blank=True, default="",
                            help_text="ID участника-отправителя.")
    sentAt = serializers.DateTimeField(source="sent_at", required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(
        choices=[c for c in Message.Status.choices if c[0] != Message.Status.FAILED], required=False,
        default=Message.Status.SENT, help_text="Начальный статус; failed задаётся только через /messages/{id}/status.",
        error_messages={"invalid_choice": "Значение «{input}» недопустимо: sent, delivered или read; статус failed "
                                          "задаётся через POST /messages/{{messageId}}/status."})
    attachments = PublicAttachmentSerializer(many=True, required=False, max_length=limits.MAX_ATTACHMENTS,
                                             help_text=f"Не больше {limits.MAX_ATTACHMENTS} вложений.")
    replyTo = _external_id(source="reply_to", required=False, allow_blank=True,
                           help_text="ID цитируемого сообщения у провайдера. Неизвестный id сохраняется как "
                                     "неразрешённый и разрешается, когда сообщение придёт.")


    def validate(self, attrs):
        # Empty values are dropped so that a body without them has the same fingerprint as before.
        for key in ("attachments", "reply_to"):
            if not attrs.get(key):
                attrs.pop(key, None)
        upload_ids = [a["upload_id"] for a in attrs.get("attachments", ()) if a.get("upload_id")]
        if len(upload_ids) != len(set(upload_ids)):
            raise serializers.ValidationError({"attachments": ["Одна загрузка (uploadId) используется один раз."]})
        if not attrs["text"] and not attrs.get("attachments"):
            raise serializers.ValidationError({"text": ["Передайте текст или хотя бы одно вложение."]})
        return attrs


class PublicMessageUpdateSerializer(StrictSerializer):
    schema_partial = False  # PATCH validates the whole body: `text` is required
    text = serializers.CharField(max_length=limits.MAX_TEXT_LENGTH, trim_whitespace=False,
                                 help_text="Новый текст. Другие поля сообщения не меняются.")
    changedAt = _changed_at()


class PublicMessageStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=Message.Status.choices)
    error = serializers.CharField(max_length=limits.MAX_ERROR_LENGTH, required=False, allow_blank=True, default="",
                                  help_text="Описание ошибки; обязательно для статуса failed.")

    def validate(self, attrs):
        if attrs["status"] == Message.Status.FAILED and not attrs["error"].strip():
            raise serializers.ValidationError({"error": ["Для статуса failed нужно описание ошибки."]})
        if attrs["status"] != Message.Status.FAILED and attrs["error"]:
            raise serializers.ValidationError({"error": ["Описание ошибки допустимо только для статуса failed."]})
        return attrs


class PublicAttachmentOutSerializer(serializers.Serializer):
    type = serializers.CharField()
    name = serializers.CharField()
    mimeType = serializers.CharField(source="mime_type")
    size = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Attachment.Status.choices,
                                     help_text="pending — файл ещё загружается, stored — сохранён, failed — ошибка.")
    error = serializers.CharField(source="failure_reason", help_text="Причина для status=failed.")
    checksum = serializers.CharField(help_text="SHA-256 сохранённого файла (hex) или пустая строка.")
    url = serializers.SerializerMethodField(help_text="Подписанная ссылка на файл, действует ограниченное время; "
                                                      "null, пока файл не сохранён.")
    location = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()

    def get_url(self, attachment) -> str | None:
        return files.signed_url(attachment)

    def get_location(self, attachment) -> dict | None:
        if attachment.type != Attachment.Type.LOCATION:
            return None
        return {"latitude": attachment.latitude, "longitude": attachment.longitude, "title": attachment.location_title}

    def get_contact(self, attachment) -> dict | None:
        if attachment.type != Attachment.Type.CONTACT:
            return None
        return {"name": attachment.contact_name, "phone": attachment.contact_phone}


# A message as the provider (PublicMessage) and the CRM operator (OperatorMessage) both see it; each adds its ids
# before these fields and its reply fields after. DRF lists the bases' fields first, in the order of the bases, so
# the ids go in a base of their own. (Comments, not docstrings: a docstring would become the schema's description.)
class MessageOutFields(serializers.Serializer):
    chatId = serializers.CharField(source="chat.external_id")
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    text = serializers.CharField()
    senderId = serializers.CharField(source="sender_external_id")
    seen = serializers.BooleanField(source="seen_flag")
    status = serializers.ChoiceField(choices=Message.Status.choices)
    error = serializers.CharField(source="status_error")
    sentAt = RFC3339DateTimeField(source="sent_at", allow_null=True)  # set by the provider, any year
    createdAt = serializers.DateTimeField(source="created_at")
    editedAt = serializers.DateTimeField(source="edited_at", allow_null=True)


class _PublicMessageId(serializers.Serializer):
    id = serializers.CharField(source="external_id")


class PublicMessageSerializer(_PublicMessageId, MessageOutFields):
    replyTo = serializers.CharField(source="reply_to_external_id", allow_null=True,
                                    help_text="ID цитируемого сообщения у провайдера или null.")
    replyToResolved = serializers.SerializerMethodField(help_text="Найдено ли цитируемое сообщение.")
    attachments = PublicAttachmentOutSerializer(many=True, source="attachments.all")

    def to_representation(self, message):
        body = super().to_representation(message)
        body["replyTo"] = body["replyTo"] or None
        return body

    def get_replyToResolved(self, message) -> bool:
        return message.reply_to_id is not None


_MESSAGE_OUT = MessageOutFields._declared_fields


def message_out_data(message: Message) -> dict:
    """The `MessageOutFields` of a message without DRF's walk over its fields (issue 19: on a message pushed by a
    provider, or sent by an operator, it cost more CPU than the INSERT). The answers' hand-built forms below and in
    the operator API use it; their tests hold each equal to its serializer."""

    def moment(name: str, value):
        return None if value is None else _MESSAGE_OUT[name].to_representation(value)

    return {"chatId": message.chat.external_id, "direction": str(message.direction), "text": message.text,
            "senderId": message.sender_external_id, "seen": message.seen_flag, "status": str(message.status),
            "error": message.status_error, "sentAt": moment("sentAt", message.sent_at),
            "createdAt": moment("createdAt", message.created_at), "editedAt": moment("editedAt", message.edited_at)}


def public_message_data(message: Message) -> dict:
    """`PublicMessageSerializer(message).data`, built by hand (`test_message_answer.py` holds the two equal)."""
    attachments = message.attachments.all()
    return {"id": message.external_id, **message_out_data(message),
            "replyTo": message.reply_to_external_id or None, "replyToResolved": message.reply_to_id is not None,
            "attachments": PublicAttachmentOutSerializer(attachments, many=True).data if attachments else []}


# --- bulk ---------------------------------------------------------------------------------------

class PublicBulkMessagesEnvelopeSerializer(StrictSerializer):
    """Only the envelope is validated here; each item is validated on its own in the view."""

    messages = serializers.ListField(child=serializers.JSONField(), min_length=1,
                                     max_length=limits.MAX_BULK_MESSAGES)


class PublicBulkMessagesSerializer(StrictSerializer):
    """Schema of the request (documentation)."""

    messages = PublicMessageCreateSerializer(many=True, min_length=1, max_length=limits.MAX_BULK_MESSAGES)


class PublicBulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Позиция сообщения в запросе, с нуля.")
    id = serializers.CharField(allow_null=True, help_text="ID сообщения у провайдера (если удалось прочитать).")
    result = serializers.ChoiceField(choices=[("created", "создано"), ("duplicate", "уже было"),
                                              ("error", "ошибка")])
    errors = serializers.DictField(required=False, help_text="Ошибки по полям для result=error.")


class PublicBulkMessagesResultSerializer(serializers.Serializer):
    results = PublicBulkItemResultSerializer(many=True)
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()


# --- webhooks -------------------------------------------------------------------------------------

class PublicWebhookSetSerializer(StrictSerializer):
    url = serializers.URLField(max_length=limits.MAX_WEBHOOK_URL_LENGTH, help_text="Абсолютный http(s) URL.")
    events = UniqueListField(child=serializers.ChoiceField(choices=Webhook.Event.choices), min_length=1,
                             error_messages={"not_unique": "События не должны повторяться."})
    rotateSecret = serializers.BooleanField(source="rotate_secret", required=False, default=False,
                                            help_text="Выпустить новый секрет подписи для существующего вебхука.")

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Нужен http(s) URL.")
        return value


class PublicWebhookSerializer(serializers.Serializer):
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=Webhook.Event.choices))
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class PublicWebhookCreatedSerializer(PublicWebhookSerializer):
    secret = serializers.CharField(
        required=False, help_text="Секрет подписи (Standard Webhooks). Показывается только здесь и только один раз: "
                                  "при создании вебхука или при rotateSecret=true.")
