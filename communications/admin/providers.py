"""Read-only admin of providers, their configuration history and tenant configurations.

Everything here is written by the marketplace through the lifecycle API; moderators only look.
The provider's API key is never shown, only its masked form.
"""

from django.contrib import admin
from django.utils.html import format_html_join

from communications.admin.filters import SandboxTenantsFilter
from communications.models import ConfigurationBinding, Provider, ProviderConfiguration, TenantConfiguration
from config.admin import ReadOnlyAdmin, ReadOnlyMixin


class BindingInline(ReadOnlyMixin, admin.TabularInline):
    model = ConfigurationBinding
    extra = 0
    fields = ("app_version", "is_active", "created_at")
    readonly_fields = fields
    verbose_name_plural = "привязки к версиям приложения"


@admin.register(Provider)
class ProviderAdmin(ReadOnlyAdmin):
    list_display = ("code", "label", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("code", "label")


@admin.register(ProviderConfiguration)
class ProviderConfigurationAdmin(ReadOnlyAdmin):
    list_display = ("app_code", "configuration_version", "app_version", "active_for", "auth_type", "created_at")
    list_filter = ("provider",)
    list_select_related = ("provider",)
    search_fields = ("app_code", "configuration_version")
    fields = ("provider", "app_code", "app_version", "configuration_version", "provider_label", "endpoint_list",
              "auth_type", "auth_header", "masked_key", "uploaded_by", "created_at")
    readonly_fields = fields
    inlines = (BindingInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("bindings")

    @admin.display(description="активна для версий")
    def active_for(self, obj):
        versions = [binding.app_version for binding in obj.bindings.all() if binding.is_active]
        return ", ".join(versions) or "—"

    @admin.display(description="эндпоинты")
    def endpoint_list(self, obj):
        return format_html_join("", "<div><code>{}</code>: {}</div>", sorted(obj.endpoints.items()))

    @admin.display(description="API-ключ")
    def masked_key(self, obj):
        return obj.masked_key


@admin.register(TenantConfiguration)
class TenantConfigurationAdmin(ReadOnlyAdmin):
    list_display = ("tenant_id", "provider", "app_version", "configuration_version", "status", "updated_at")
    list_filter = ("status", SandboxTenantsFilter, "provider")
    list_select_related = ("provider", "configuration")
    search_fields = ("tenant_id", "provider__code")

    @admin.display(description="версия конфигурации")
    def configuration_version(self, obj):
        return obj.configuration.configuration_version
