"""Test-stand reports for moderators: runs, their checks, sandbox tenants (all read-only).

Runs are started from «Версии приложений» (action «Запустить проверку на тестовом стенде»)
or by the developer through the marketplace API; see docs/test-stand.md.
"""

import json

from django.contrib import admin
from django.utils.html import format_html

from communications.models import ConformanceCheck, ConformanceRun, SandboxTenant
from config.admin import ReadOnlyAdmin, ReadOnlyMixin

COLORS = {"ok": "#1a7f37", "passed": "#1a7f37", "queued": "#777", "running": "#9a6700"}


def _badge(value: str, label: str):
    return format_html('<b style="color:{}">{}</b>', COLORS.get(value, "#cf222e"), label)


def _pretty(value):
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2))


class ConformanceCheckInline(ReadOnlyMixin, admin.TabularInline):
    model = ConformanceCheck
    fields = ("position", "endpoint", "is_repeat", "verdict_badge", "reason", "response_status", "latency_ms")
    readonly_fields = fields
    show_change_link = True
    extra = 0
    verbose_name_plural = "проверки (откройте строку, чтобы увидеть запрос и ответ)"

    @admin.display(description="вердикт")
    def verdict_badge(self, obj):
        return _badge(obj.verdict, obj.get_verdict_display())


@admin.register(ConformanceRun)
class ConformanceRunAdmin(ReadOnlyAdmin):
    list_display = ("number", "created_at", "provider", "app_version", "configuration_version", "status_badge",
                    "origin", "started_by", "summary")
    list_filter = ("status", "origin", "provider")
    list_select_related = ("provider", "configuration", "started_by")
    search_fields = ("provider__code", "app_version", "=sandbox_tenant_id")
    date_hierarchy = "created_at"
    fields = ("provider", "configuration", "app_version", "sandbox_tenant_id", "status_badge", "summary", "origin",
              "started_by", "created_at", "started_at", "finished_at")
    readonly_fields = fields
    inlines = (ConformanceCheckInline,)

    @admin.display(description="№", ordering="pk")
    def number(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="конфигурация")
    def configuration_version(self, obj):
        return obj.configuration.configuration_version

    @admin.display(description="статус", ordering="status")
    def status_badge(self, obj):
        return _badge(obj.status, obj.get_status_display())


@admin.register(ConformanceCheck)
class ConformanceCheckAdmin(ReadOnlyAdmin):
    """One check in full: the request as sent (key masked) and the provider's answer."""

    list_display = ("run", "position", "endpoint", "is_repeat", "verdict", "response_status", "latency_ms")
    list_filter = ("verdict", "endpoint")
    list_select_related = ("run__provider",)
    search_fields = ("endpoint", "run__provider__code", "request_url")
    fieldsets = (
        ("Итог", {"fields": ("run", "endpoint", "is_repeat", "verdict", "reason", "latency_ms", "created_at")}),
        ("Запрос", {"fields": ("request_url", "idempotency_key", "pretty_request_headers", "pretty_request_body")}),
        ("Ответ", {"fields": ("response_status", "pretty_response_headers", "response_excerpt")}),
    )
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    @admin.display(description="заголовки запроса")
    def pretty_request_headers(self, obj):
        return _pretty(obj.request_headers)

    @admin.display(description="тело запроса")
    def pretty_request_body(self, obj):
        return _pretty(obj.request_body)

    @admin.display(description="заголовки ответа")
    def pretty_response_headers(self, obj):
        return _pretty(obj.response_headers)


@admin.register(SandboxTenant)
class SandboxTenantAdmin(ReadOnlyAdmin):
    list_display = ("provider", "tenant_id", "created_at")
    list_filter = ("provider",)
    list_select_related = ("provider",)
    search_fields = ("provider__code", "=tenant_id")
