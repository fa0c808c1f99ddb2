from rest_framework import serializers

from communications.models import IntegrationToken


class IntegrationTokenIssueSerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id", help_text="UUID тенанта SberCRM.")
    providerCode = serializers.CharField(source="provider_code", max_length=100, help_text="Код провайдера.")
    lifetimeDays = serializers.IntegerField(source="lifetime_days", required=False, min_value=1, max_value=3650,
                                            help_text="Срок действия в днях (по умолчанию из настроек, 365).")


class IntegrationTokenSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="jti", help_text="Идентификатор токена (jti).")
    tenantId = serializers.UUIDField(source="tenant_id")
    providerCode = serializers.CharField(source="provider.code")
    status = serializers.ChoiceField(choices=IntegrationToken.Status.choices)
    issuedAt = serializers.DateTimeField(source="issued_at")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    deactivatedAt = serializers.DateTimeField(source="deactivated_at", allow_null=True)


class IntegrationTokenIssuedSerializer(IntegrationTokenSerializer):
    token = serializers.CharField(help_text="Значение токена. Показывается один раз и нигде не хранится.")


class IntegrationTokenListQuerySerializer(serializers.Serializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    providerCode = serializers.CharField(source="provider_code", required=False, allow_blank=True, max_length=100,
                                         help_text="Код провайдера; пусто — все провайдеры.")
