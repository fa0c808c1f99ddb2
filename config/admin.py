"""Admin additions of the platform: the read-only base of every app's admin, unlocking logins locked by django-axes."""

import logging

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin

logger = logging.getLogger(__name__)


class ReadOnlyMixin:
    """View only, for model admins and inlines alike: the rows are written by services (APIs, bots, tasks),
    moderators look and never edit by hand. `deletable = True` keeps deleting (rows that are safe to drop)."""

    deletable = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class UnlockingAccessAttemptAdmin(AccessAttemptAdmin):
    actions = [*AccessAttemptAdmin.actions, "unlock"]

    @admin.action(description="Разблокировать вход (сбросить неудачные попытки)", permissions=["delete"])
    def unlock(self, request, queryset):
        rows = list(queryset.values_list("username", "ip_address"))
        queryset.delete()
        logger.info("logins unlocked by %s: %s", request.user.get_username(), rows)
        self.message_user(request, f"Разблокировано записей: {len(rows)}.")


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, UnlockingAccessAttemptAdmin)
