"""Initial-sync progress: where each tenant's history import stands, and why it stopped."""

from django.contrib import admin, messages
from django.db import transaction

from communications.models import InitialSync
from communications.services.sync import initial_sync_resume
from config.admin import NoAddDeleteMixin, clipped


@admin.register(InitialSync)
class InitialSyncAdmin(NoAddDeleteMixin, admin.ModelAdmin):
    list_display = ("tenant_id", "provider", "status", "run", "pages_fetched", "pages_done", "messages_seen",
                    "messages_created", "items_failed", "page_attempts", "updated_at", "short_error")
    list_filter = ("status", "provider")
    list_select_related = ("provider", "delivery")
    search_fields = ("=tenant_id",)
    actions = ["resume"]
    fields = ("tenant_id", "provider", "tenant_configuration", "status", "run", "cursor", "page_limit",
              "pages_fetched", "fetched_all", "pages_done", "pages_waiting", "messages_seen", "messages_created",
              "items_failed", "delivery", "page_attempts", "last_error",
              "started_at", "finished_at", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description="попыток страницы")
    def page_attempts(self, obj):
        """The current page is a row of the delivery engine: its attempts (and the next one) are there."""
        return obj.delivery.attempts if obj.delivery_id else "—"

    @admin.display(description="страниц ждут загрузки")
    def pages_waiting(self, obj):
        """Fetched answers kept until their import (the engine's `sync_import` rows) has stored them."""
        return obj.pages.count()

    @admin.display(description="ошибка")
    def short_error(self, obj):
        return clipped(obj.last_error)

    @admin.action(description="Возобновить с сохранённого курсора (остановленные с ошибкой)")
    def resume(self, request, queryset):
        resumed = 0
        for sync in queryset.filter(status=InitialSync.Status.FAILED):
            with transaction.atomic():
                initial_sync_resume(sync=sync)
            resumed += 1
        self.message_user(request, f"Возобновлено: {resumed}", messages.SUCCESS if resumed else messages.WARNING)
