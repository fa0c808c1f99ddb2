from rest_framework import serializers

from notifications.models import NotificationType, Role, Service


class SendRequestSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    service = serializers.ChoiceField(choices=Service.choices)
    subject = serializers.CharField(max_length=255)
    type = serializers.ChoiceField(choices=NotificationType.choices)
    message = serializers.CharField(max_length=10000, trim_whitespace=False)

    def validate_subject(self, value):
        if "\n" in value or "\r" in value:
            raise serializers.ValidationError("Тема не может содержать перевод строки.")
        return value


class SubscribeRequestSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    device_id = serializers.CharField(max_length=255)
    previous_device_id = serializers.CharField(
        max_length=255, required=False, allow_blank=True,
        help_text="Прежний device_id этого пользователя, если токен устройства сменился (переустановка).")


class StatusResponseSerializer(serializers.Serializer):
    """The spec's answer shape: {"status", "message"}; 400/404 add `errors` per field."""

    status = serializers.ChoiceField(choices=["success", "error", "accepted"])
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    notification_id = serializers.UUIDField(required=False, help_text="Только в ответе 202.")


class RecipientUpsertSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class RecipientSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    email = serializers.CharField(help_text="Email или пустая строка, если адреса нет.")
    name = serializers.CharField()


class RecipientTokenSerializer(serializers.Serializer):
    access = serializers.CharField()
    expires_at = serializers.DateTimeField()


class BindingLinksSerializer(serializers.Serializer):
    token = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    telegram = serializers.CharField(allow_null=True)
    vk = serializers.CharField(allow_null=True)
    vk_me = serializers.CharField(allow_null=True)
