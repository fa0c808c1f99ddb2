"""Moderator tools for the outbox: delivery log, attempts, retry/cancel, provider health."""

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from communications.admin.filters import SandboxTenantsFilter
from communications.models import Delivery, DeliveryAttempt, ProviderDeliveryHealth, ProviderSigningSecret
from communications.provider_contract import masked_payload
from communications.selectors import deliveries as selectors
from communications.services import deliveries as services
from config.admin import (
    BigTableAdminMixin,
    NoAddDeleteMixin,
    OneChoiceFilter,
    ReadOnlyAdmin,
    ReadOnlyMixin,
    action_each,
    clipped,
)
from delivery import engine

HEALTH_WINDOW = timedelta(hours=24)


class DeliveryAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "outcome", "status_code", "latency_ms", "error")
    readonly_fields = fields
    ordering = ("started_at",)


class TenantFilter(admin.SimpleListFilter):
    """Tenants of the latest deliveries; any tenant works via ?tenant_id=<uuid>. The latest rows by key, not a week
    of them: the choices cost the same however big the log is (issue 19)."""

    title = "тенант"
    parameter_name = "tenant_id"
    LATEST = 2000  # rows looked at
    SHOWN = 50

    def lookups(self, request, model_admin):
        latest = Delivery.objects.order_by("-id").values_list("tenant_id", flat=True)[: self.LATEST]
        tenants = sorted({str(tenant) for tenant in latest if tenant is not None})[: self.SHOWN]
        return [(tenant, tenant) for tenant in tenants]

    def queryset(self, request, queryset):
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


class EndpointFilter(admin.SimpleListFilter):
    title = "эндпоинт / событие"
    parameter_name = "endpoint"

    def lookups(self, request, model_admin):
        return [(name, name) for name in selectors.delivery_endpoints()]

    def queryset(self, request, queryset):
        return queryset.filter(endpoint=self.value()) if self.value() else queryset


class UpdatedRecentlyFilter(admin.SimpleListFilter):
    """The dashboard links «dead in the last 24 hours» here: ?status__exact=dead&updated=24h."""

    title = "последнее изменение"
    parameter_name = "updated"
    WINDOWS = {"24h": ("за 24 часа", timedelta(hours=24)), "7d": ("за 7 дней", timedelta(days=7))}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request, queryset):
        window = self.WINDOWS.get(self.value())
        return queryset.filter(updated_at__gte=timezone.now() - window[1]) if window else queryset


@admin.register(Delivery)
class DeliveryAdmin(BigTableAdminMixin, NoAddDeleteMixin, admin.ModelAdmin):
    list_display = ("number", "created_at", "provider", "tenant_id", "endpoint", "ordering_key", "status",
                     "attempts", "next_attempt_at", "response_status", "short_error")
    list_filter = ("status", UpdatedRecentlyFilter, SandboxTenantsFilter, "provider", EndpointFilter, TenantFilter,
                   "kind", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("provider",)
    search_fields = ("=idempotency_key", "=request_id", "=tenant_id", "ordering_key", "provider_message_id", "url")
    inlines = [DeliveryAttemptInline]
    actions = ["retry_deliveries", "cancel_deliveries"]
    fieldsets = (
        ("Куда", {"fields": ("kind", "provider", "tenant_id", "tenant_configuration", "configuration", "endpoint",
                             "url")}),
        ("Что", {"fields": ("pretty_payload", "idempotency_key", "request_id", "ordering_key", "on_delivered")}),
        ("Состояние", {"fields": ("status", "attempts", "next_attempt_at", "lease_expires_at", "last_error",
                                  "created_at", "updated_at", "delivered_at")}),
        ("Ответ", {"fields": ("response_status", "provider_message_id", "response_excerpt")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def get_urls(self):
        from django.urls import path

        from delivery.admin_views import all_deliveries_view

        view = self.admin_site.admin_view(lambda request: all_deliveries_view(request, self))
        return [path("all/", view, name="delivery_all"), *super().get_urls()]

    @admin.display(description="№", ordering="pk")
    def number(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="ошибка")
    def short_error(self, obj):
        return clipped(obj.last_error)

    @admin.display(description="тело запроса")
    def pretty_payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(masked_payload(obj.payload), ensure_ascii=False, indent=2))

    def _apply(self, request, queryset, action, done_label):
        action_each(self, request, queryset.values_list("pk", flat=True), lambda pk: action(delivery_id=pk),
                    done_label, prefix="#")

    @admin.action(description="Повторить отправку (только недоставленные)", permissions=["change"])
    def retry_deliveries(self, request, queryset):
        self._apply(request, queryset, engine.delivery_retry, "Поставлено на повторную отправку")

    @admin.action(description="Отменить доставку", permissions=["change"])
    def cancel_deliveries(self, request, queryset):
        self._apply(request, queryset, engine.delivery_cancel, "Отменено")


class FailingFilter(OneChoiceFilter):
    title = "доставки"
    parameter_name = "failing"
    choice = "есть недоставленные или повторяемые"

    def narrow(self, queryset):
        return queryset.filter(pk__in=selectors.provider_failing_list().values("pk"))


@admin.register(ProviderDeliveryHealth)
class ProviderDeliveryHealthAdmin(ReadOnlyAdmin):
    """Answers "why did this provider call fail?" without reading logs."""

    list_display = ("code", "label", "success_rate", "last_attempt_at", "last_error", "backlog")
    search_fields = ("code", "label")
    list_filter = (FailingFilter, "is_active")
    actions = ["issue_signing_secret"]

    def get_queryset(self, request):
        return services.provider_health_annotate(super().get_queryset(request),
                                                 since=timezone.now() - HEALTH_WINDOW)

    @admin.display(description="успешных попыток за 24 ч")
    def success_rate(self, obj):
        if not obj.attempts_recent:
            return "нет попыток"
        return f"{100 * obj.successes_recent / obj.attempts_recent:.0f}% ({obj.successes_recent}/{obj.attempts_recent})"

    @admin.display(description="последняя попытка", ordering="last_attempt_at")
    def last_attempt_at(self, obj):
        return obj.last_attempt_at

    @admin.display(description="последняя ошибка")
    def last_error(self, obj):
        if obj.last_error_delivery_id is None:
            return "—"
        url = reverse("admin:communications_delivery_change", args=[obj.last_error_delivery_id])
        when = timezone.localtime(obj.last_error_at).strftime("%d.%m.%Y %H:%M:%S")
        return format_html('{} · {} · <a href="{}">#{}</a>: {}', when, obj.last_error_endpoint, url,
                           obj.last_error_delivery_id, (obj.last_error_text or "")[:200])

    @admin.display(description="в очереди / отправляется / не доставлено")
    def backlog(self, obj):
        url = reverse("admin:communications_delivery_changelist")
        return format_html('{} / {} / <a href="{}?provider__id__exact={}&status__exact=dead">{}</a>',
                           obj.backlog_pending, obj.backlog_in_progress, url, obj.pk, obj.backlog_dead)

    def has_rotate_permission(self, request):
        """Rotating shows the new secret: only for those who may manage signing secrets (not moderators)."""
        return request.user.has_perm("communications.add_providersigningsecret")

    @admin.action(description="Выпустить новый секрет подписи (показывается один раз)", permissions=["rotate"])
    def issue_signing_secret(self, request, queryset):
        for provider in queryset:
            secret = services.provider_signing_secret_issue(provider=provider)
            self.message_user(request, f"{provider.code}: новый секрет подписи {secret} — сохраните его, больше он "
                                       f"показан не будет. Прежний действует ещё "
                                       f"{services.SIGNING_SECRET_OVERLAP // timedelta(hours=1)} ч.", messages.WARNING)


@admin.register(ProviderSigningSecret)
class ProviderSigningSecretAdmin(ReadOnlyAdmin):
    deletable = True  # an expired secret may be dropped by hand
    list_display = ("provider", "masked", "created_at", "expires_at")
    list_filter = ("provider",)
    list_select_related = ("provider",)
    search_fields = ("provider__code",)
    fields = ("provider", "masked", "created_at", "expires_at")
    readonly_fields = fields

    @admin.display(description="секрет")
    def masked(self, obj):
        return f"whsec_****{obj.secret[-4:]}"
