"""Request/response shapes of the marketplace → communications lifecycle API (camelCase)."""

from rest_framework import serializers

from communications import semver
from communications.models import Provider, TenantConfiguration
from config.api.fields import RegexStringField, SlugStringField, StringField

APP_CODE = {"max_length": 100, "help_text": "Системное имя приложения = код провайдера."}
APP_VERSION = {"regex": semver.PATTERN, "max_length": 64, "help_text": "Версия приложения (SemVer 2.0.0).",
               "error_messages": {"invalid": "Версия приложения должна соответствовать SemVer 2.0.0."}}


class ProviderRegisterSerializer(serializers.Serializer):
    code = SlugStringField(**APP_CODE)
    label = StringField(max_length=255)


class ProviderSerializer(serializers.ModelSerializer):
    isActive = serializers.BooleanField(source="is_active")

    class Meta:
        model = Provider
        fields = ("code", "label", "isActive")


class AppVersionCreatedSerializer(serializers.Serializer):
    appCode = SlugStringField(**APP_CODE)
    appVersion = RegexStringField(**APP_VERSION)


class AppVersionBindingSerializer(serializers.Serializer):
    appCode = serializers.CharField()
    appVersion = serializers.CharField()
    configurationVersion = serializers.CharField(allow_null=True,
                                                 help_text="Унаследованная активная конфигурация или null.")


class TenantConfigurationChangeSerializer(serializers.Serializer):
    tenantId = serializers.UUIDField()
    appCode = SlugStringField(**APP_CODE)
    appVersion = RegexStringField(**APP_VERSION)


class TenantConfigurationDeleteQuerySerializer(serializers.Serializer):
    tenantId = serializers.UUIDField()
    appCode = SlugStringField(**APP_CODE)


class TenantConfigurationSerializer(serializers.ModelSerializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    appCode = serializers.CharField(source="provider.code")
    appVersion = serializers.CharField(source="app_version")
    configurationVersion = serializers.CharField(source="configuration.configuration_version")
    status = serializers.ChoiceField(choices=TenantConfiguration.Status.choices)
    disabledAt = serializers.DateTimeField(source="disabled_at", allow_null=True)

    class Meta:
        model = TenantConfiguration
        fields = ("tenantId", "appCode", "appVersion", "configurationVersion", "status", "disabledAt")
