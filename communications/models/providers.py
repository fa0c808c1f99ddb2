"""Providers and the versioned configuration of their HTTP endpoints (which endpoints exist, and
which are required: the registry, communications/endpoints.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Provider(models.Model):
    """A messaging provider; `code` equals the marketplace app's system name."""

    code = models.SlugField("код", max_length=100, unique=True)
    label = models.CharField("название", max_length=255)
    is_active = models.BooleanField("активен", default=True)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "провайдер"
        verbose_name_plural = "провайдеры"
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"


class ProviderConfiguration(models.Model):
    """One uploaded version of a provider's configuration. Immutable once stored."""

    class AuthType(models.TextChoices):
        API_KEY = "API_KEY", "API-ключ"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="configurations",
                                 verbose_name="провайдер")
    app_code = models.CharField("appCode", max_length=100)
    app_version = models.CharField("appVersion (загрузка)", max_length=64)
    configuration_version = models.CharField("configurationVersion", max_length=64)
    provider_label = models.CharField("providerLabel", max_length=255)
    endpoints = models.JSONField("эндпоинты", default=dict)
    auth_type = models.CharField("тип аутентификации", max_length=20, choices=AuthType.choices,
                                 default=AuthType.API_KEY)
    auth_header = models.CharField("заголовок ключа", max_length=100, default="X-API-Key")
    auth_key = models.CharField("API-ключ", max_length=512)
    # optional: {"attachments": bool, "attachmentTypes": [...], "maxAttachmentBytes": int}; {} = text only
    capabilities = models.JSONField("возможности", default=dict, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name="загрузил")
    created_at = models.DateTimeField("загружена", auto_now_add=True)

    class Meta:
        verbose_name = "конфигурация провайдера"
        verbose_name_plural = "конфигурации провайдеров"
        ordering = ("provider", "-created_at")
        constraints = [
            models.UniqueConstraint(fields=("provider", "configuration_version"),
                                    name="uniq_provider_configuration_version"),
        ]

    def __str__(self) -> str:
        return f"{self.app_code} {self.configuration_version}"

    def endpoint_url(self, name: str) -> str | None:
        return (self.endpoints or {}).get(name)

    def accepts_attachment(self, kind: str, size: int | None = None) -> bool:
        caps = self.capabilities or {}
        if caps.get("attachments") is not True:
            return False
        if caps.get("attachmentTypes") and kind not in caps["attachmentTypes"]:
            return False
        return not (size and caps.get("maxAttachmentBytes") and size > caps["maxAttachmentBytes"])

    @property
    def masked_key(self) -> str:
        key = self.auth_key or ""
        return "****" + key[-4:] if len(key) > 8 else "****"


class ConfigurationBinding(models.Model):
    """Which configuration serves which app version; at most one active and one pending per version.

    Pending: uploaded to a PUBLISHED app version; it serves nobody until a passing test-stand run and
    SberCRM's mark make it active (services/providers.py, `configuration_pending_activate`).
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="bindings",
                                 verbose_name="провайдер")
    app_version = models.CharField("версия приложения", max_length=64)
    configuration = models.ForeignKey(ProviderConfiguration, on_delete=models.PROTECT, related_name="bindings",
                                      verbose_name="конфигурация")
    is_active = models.BooleanField("активна", default=True)
    is_pending = models.BooleanField("ожидает проверки", default=False,
                                     help_text="Загружена для опубликованной версии; станет активной после "
                                               "пройденного прогона тестового стенда и отметки SberCRM.")
    created_at = models.DateTimeField("привязана", auto_now_add=True)

    class Meta:
        verbose_name = "привязка конфигурации к версии"
        verbose_name_plural = "привязки конфигураций к версиям"
        ordering = ("provider", "app_version", "-created_at")
        constraints = [
            models.UniqueConstraint(fields=("provider", "app_version"), condition=Q(is_active=True),
                                    name="uniq_active_configuration_per_app_version"),
            models.UniqueConstraint(fields=("app_version", "configuration"),
                                    name="uniq_binding_app_version_configuration"),
            models.UniqueConstraint(fields=("provider", "app_version"), condition=Q(is_pending=True),
                                    name="uniq_pending_configuration_per_app_version"),
            models.CheckConstraint(condition=~(Q(is_pending=True) & Q(is_active=True)),
                                   name="binding_pending_is_not_active"),
        ]

    def __str__(self) -> str:
        return f"{self.provider.code} {self.app_version} → {self.configuration.configuration_version}"


class TenantConfiguration(models.Model):
    """Tenant ↔ configuration version. Moves only when the tenant upgrades the app."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Активна"
        DISABLED = "disabled", "Отключена"

    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="tenant_configurations",
                                 verbose_name="провайдер")
    configuration = models.ForeignKey(ProviderConfiguration, on_delete=models.PROTECT,
                                      related_name="tenant_configurations", verbose_name="конфигурация")
    app_version = models.CharField("версия приложения", max_length=64)
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField("создана", auto_now_add=True)
    updated_at = models.DateTimeField("изменена", auto_now=True)
    disabled_at = models.DateTimeField("отключена", null=True, blank=True)

    class Meta:
        verbose_name = "конфигурация тенанта"
        verbose_name_plural = "конфигурации тенантов"
        ordering = ("-updated_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider"), name="uniq_tenant_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} → {self.configuration}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
