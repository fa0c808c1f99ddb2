from django.contrib import admin

from bots.models import PendingBinding, ProcessedUpdate
from config.admin import BigTableAdminMixin, ReadOnlyAdmin


class _BotRowsAdmin(ReadOnlyAdmin):
    """The bots write these rows; moderators only look (e.g. «почему привязка не прошла?») or delete them."""

    deletable = True


@admin.register(PendingBinding)
class PendingBindingAdmin(_BotRowsAdmin):
    list_display = ("service", "account_id", "recipient", "status", "created_at", "updated_at")
    list_filter = ("service", "status")
    search_fields = ("account_id", "token__recipient__name", "token__recipient__id")
    list_select_related = ("token__recipient",)
    exclude = ("nonce",)  # button code: not needed by a moderator

    @admin.display(description="получатель")
    def recipient(self, obj):
        return obj.token.recipient


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(BigTableAdminMixin, _BotRowsAdmin):
    list_display = ("service", "update_id", "created_at")
    list_filter = ("service",)
    search_fields = ("update_id",)
