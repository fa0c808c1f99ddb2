"""Admin additions of the platform: unlocking logins locked by django-axes."""

import logging

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin

logger = logging.getLogger(__name__)


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
