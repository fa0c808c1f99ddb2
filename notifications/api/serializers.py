import re
import uuid

from rest_framework import serializers

from notifications.models import NotificationType, Role, Service


class StrictCharField(serializers.CharField):
    """A JSON string only (no number/bool coercion); whitespace-only text is refused like an empty one.

    The value is kept as given unless `trim_whitespace` is on.
    """

    default_error_messages = {"invalid": "Ожидается строка.", "blank": "Не может быть пустым или из одних пробелов."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if data and not data.strip():
            self.fail("blank")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    default_error_messages = {"invalid": "Ожидается строка."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID in a JSON string; a number is not a UUID here."""

    def to_internal_value(self, data):
        if not isinstance(data, (str, uuid.UUID)):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class SendSerializer(serializers.Serializer):
    user_id = StrictUUIDField()
    service = StrictChoiceField(choices=Service.choices)
    subject = StrictCharField(max_length=255)
    type = StrictChoiceField(choices=NotificationType.choices)
    message = StrictCharField(max_length=10000, trim_whitespace=False)

    def validate_subject(self, value):
        if "\n" in value or "\r" in value:
            raise serializers.ValidationError("Тема не может содержать перевод строки.")
        return value


_SERVICES, _TYPES = frozenset(Service.values), frozenset(NotificationType.values)
_SUBJECT_MAX, _MESSAGE_MAX = (SendSerializer._declared_fields[name].max_length for name in ("subject", "message"))
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")  # refused by every DRF CharField


def send_data_plain(data) -> dict | None:
    """`SendSerializer`'s validated data for a body that is plainly valid, without building the serializer (issue
    19: DRF deep-copies its fields for each request); None when anything needs the serializer (an error to
    report, whitespace to trim, a non-JSON body). `test_send_data_plain_agrees_with_the_serializer` holds them equal."""
    if type(data) is not dict:
        return None
    values = [data.get(name) for name in ("user_id", "service", "subject", "type", "message")]
    if not all(type(value) is str for value in values):
        return None
    user_id, service, subject, kind, message = values
    if service not in _SERVICES or kind not in _TYPES:
        return None
    if not 0 < len(subject) <= _SUBJECT_MAX or subject != subject.strip() or "\n" in subject or "\r" in subject:
        return None
    if len(message) > _MESSAGE_MAX or not message.strip() or _NUL_OR_SURROGATE.search(subject + message):
        return None
    try:
        user_id = uuid.UUID(user_id)
    except ValueError:
        return None
    return {"user_id": user_id, "service": service, "subject": subject, "type": kind, "message": message}


class SubscribeSerializer(serializers.Serializer):
    user_id = StrictUUIDField()
    device_id = StrictCharField(max_length=255)
    previous_device_id = StrictCharField(
        max_length=255, required=False, allow_blank=True, trim_whitespace=False,
        help_text="Прежний device_id этого пользователя, если токен устройства сменился (переустановка).")


class UnsubscribeRequestSerializer(serializers.Serializer):
    user_id = StrictUUIDField()
    device_id = StrictCharField(max_length=255)


class StatusResponseSerializer(serializers.Serializer):
    """The spec's answer shape: {"status", "message"}; 400/404 add `errors` per field."""

    status = serializers.ChoiceField(choices=["success", "error", "accepted"])
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    notification_id = serializers.UUIDField(required=False, help_text="Только в ответе 202.")


class RecipientUpsertSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = StrictCharField(max_length=255, required=False, allow_blank=True, default="")


class RecipientSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    email = serializers.CharField(help_text="Email или пустая строка, если адреса нет.")
    name = serializers.CharField()


class RecipientTokenSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Токен пользователя для мобильного приложения: Authorization: Bearer.")
    expires_at = serializers.DateTimeField()


class BindingLinksSerializer(serializers.Serializer):
    token = serializers.UUIDField(help_text="Токен привязки, он же параметр ссылок.")
    expires_at = serializers.DateTimeField(help_text="До этого времени ссылки действуют.")
    telegram = serializers.CharField(allow_null=True, help_text="Ссылка на Telegram-бота; null, если бот не настроен.")
    vk = serializers.CharField(allow_null=True, help_text="Ссылка на сообщество VK; null, если бот VK не настроен.")
    vk_me = serializers.CharField(allow_null=True, help_text="Ссылка vk.me на диалог с ботом VK; null, если не настроен.")


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Ожидается true или false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class PreferenceSerializer(serializers.Serializer):
    type = StrictChoiceField(choices=NotificationType.choices)
    channel = StrictChoiceField(choices=Service.choices)
    enabled = StrictBooleanField()
    mandatory = serializers.BooleanField(read_only=True, help_text="Обязательный тип: отключить нельзя.")


class QuietHoursSerializer(serializers.Serializer):
    start = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"], help_text="Начало, ЧЧ:ММ.")
    end = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"], help_text="Конец, ЧЧ:ММ.")
    timezone = StrictCharField(max_length=64, help_text="Часовой пояс IANA, например Europe/Moscow.")


class PreferencesSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(read_only=True)
    preferences = PreferenceSerializer(many=True, required=False)
    quiet_hours = QuietHoursSerializer(allow_null=True, required=False,
                                       help_text="null — без тихих часов; ключ не передан — без изменений.")


class NotifySerializer(serializers.Serializer):
    user_id = StrictUUIDField()
    type = StrictChoiceField(choices=NotificationType.choices)
    subject = StrictCharField(max_length=255)
    message = StrictCharField(max_length=10000, trim_whitespace=False)
    idempotency_key = StrictCharField(max_length=255, required=False,
                                      help_text="Повтор с тем же ключом и телом вернёт тот же id без новой отправки.")

    def validate_subject(self, value):
        if "\n" in value or "\r" in value:
            raise serializers.ValidationError("Тема не может содержать перевод строки.")
        return value


NOTIFY_STATUSES = ["pending", "deferred", "delivered", "failed", "unknown"]


class NotifyAcceptedSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=NOTIFY_STATUSES)
    deliver_after = serializers.DateTimeField(allow_null=True)


class AttemptSerializer(serializers.Serializer):
    channel = serializers.CharField()
    status = serializers.CharField(help_text="pending, sent или failed.")
    time = serializers.DateTimeField()
    error = serializers.CharField()


class SkippedSerializer(serializers.Serializer):
    channel = serializers.CharField()
    reason = serializers.ChoiceField(choices=["muted", "not_linked", "invalid"])
    error = serializers.CharField(required=False)


class NotificationStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["notify", "send"])
    user_id = serializers.UUIDField()
    type = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=NOTIFY_STATUSES)
    policy = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    deliver_after = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptSerializer(many=True)
    skipped = SkippedSerializer(many=True)


class StatusCallbackSerializer(serializers.Serializer):
    callback_url = serializers.URLField(max_length=2000)
    rotate_secret = serializers.BooleanField(required=False, default=False, write_only=True)
    secret = serializers.CharField(read_only=True, allow_null=True,
                                   help_text="Секрет подписи `whsec_…`: только при создании или ротации.")
