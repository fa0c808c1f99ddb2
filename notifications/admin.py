from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin import BigTableAdminMixin, ReadOnlyAdmin, ReadOnlyMixin, action_each
from notifications import models as m


class ServiceBindingInline(admin.TabularInline):
    model = m.ServiceBinding
    extra = 0
    fields = ["service", "service_user_id", "is_active", "deactivated_reason", "updated_at"]
    readonly_fields = ["updated_at"]


class DeviceInline(admin.TabularInline):
    model = m.Device
    extra = 0
    fields = ["device_id", "is_active", "deactivated_reason", "updated_at"]
    readonly_fields = ["updated_at"]


class PreferenceInline(ReadOnlyMixin, admin.TabularInline):
    """Changed only through the API, the bots and the unsubscribe link, which write the audit rows."""

    model = m.NotificationPreference
    extra = 0
    fields = readonly_fields = ["type", "channel", "enabled", "updated_at"]


class QuietHoursInline(ReadOnlyMixin, admin.TabularInline):
    model = m.QuietHours
    extra = 0
    fields = readonly_fields = ["start", "end", "timezone", "updated_at"]


@admin.register(m.Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["id", "name", "email", "bindings__service_user_id", "devices__device_id"]
    readonly_fields = ["notification_history"]
    inlines = [ServiceBindingInline, DeviceInline, PreferenceInline, QuietHoursInline]
    HISTORY_ROWS = 20

    @admin.display(description="история уведомлений")
    def notification_history(self, recipient):
        if recipient.pk is None:
            return "—"
        rows = list(recipient.notifications.order_by("-timestamp")[:self.HISTORY_ROWS])
        if not rows:
            return "уведомлений не было"
        url = reverse("admin:notifications_notification_changelist") + f"?recipient__id__exact={recipient.pk}"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (timezone.localtime(n.timestamp).strftime("%d.%m.%Y %H:%M"), n.get_service_display(), n.subject, n.get_status_display(),
             n.last_error[:200]) for n in rows))
        return format_html('<table id="notification-history"><thead><tr><th>время</th><th>сервис</th><th>тема</th>'
                           '<th>статус</th><th>ошибка</th></tr></thead><tbody>{}</tbody></table>'
                           '<a href="{}">Все уведомления получателя</a>', body, url)


@admin.register(m.Notification)
class NotificationAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    list_display = ["timestamp", "recipient", "service", "type", "subject", "status", "attempts", "last_error"]
    list_filter = ["service", "type", "status", "is_async", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["id", "recipient__id", "recipient__email", "subject", "idempotency_key"]
    list_select_related = ["recipient"]
    actions = ["resend_notifications"]

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.change_notification")

    @admin.action(description="Отправить повторно («Неизвестно» и «Ошибка»; возможен дубль)",
                  permissions=["resend"])
    def resend_notifications(self, request, queryset):
        from notifications.services import notification_resend

        action_each(self, request, queryset.values_list("pk", flat=True),
                    lambda pk: notification_resend(notification_id=pk), "Отправлено повторно")


class _RecipientHistoryAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    """A recipient's audit rows: `changes` are the columns after the time and the recipient, `filters` the list
    filters before the date; searched by the recipient's id and `searched`."""

    changes, filters, searched = (), (), ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.list_display = ["timestamp", "recipient", *cls.changes]
        cls.list_filter = [*cls.filters, ("timestamp", admin.DateFieldListFilter)]
        cls.search_fields = ["recipient__id", *cls.searched]
        cls.list_select_related = ["recipient"]


@admin.register(m.PushHistory)
class PushHistoryAdmin(_RecipientHistoryAdmin):
    changes, filters, searched = ("type", "title", "external_id"), ("type",), ("subject", "external_id")


@admin.register(m.ServiceBindingHistory)
class ServiceBindingHistoryAdmin(_RecipientHistoryAdmin):
    changes = ("service", "old_service_user_id", "new_service_user_id")
    filters, searched = ("service",), ("old_service_user_id", "new_service_user_id")


@admin.register(m.DeviceHistory)
class DeviceHistoryAdmin(_RecipientHistoryAdmin):
    changes = searched = ("old_device_id", "new_device_id")


@admin.register(m.PreferenceChange)
class PreferenceChangeAdmin(_RecipientHistoryAdmin):
    changes, filters, searched = ("setting", "old_value", "new_value", "source"), ("source",), ("setting",)


@admin.register(m.BindingToken)
class BindingTokenAdmin(ReadOnlyAdmin):
    """One-time deep-link tokens: shown masked, like every secret in the admin."""

    list_display = ["masked_token", "recipient", "created_at", "expires_at", "used_at", "used_service"]
    list_filter = ["used_service"]
    list_select_related = ["recipient"]
    search_fields = ["recipient__id", "recipient__email"]
    fields = ["masked_token", "recipient", "created_at", "expires_at", "used_at", "used_service"]
    readonly_fields = fields

    @admin.display(description="токен")
    def masked_token(self, obj):
        return "****" + str(obj.token)[-4:]


class NotifyAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = m.Notification
    fk_name = "notify_request"
    extra = 0
    fields = readonly_fields = ["service", "status", "attempts", "sent_at", "last_error"]
    verbose_name_plural = "попытки по каналам"


@admin.register(m.NotifyRequest)
class NotifyRequestAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "type", "subject", "policy", "status", "deliver_after", "finished_at"]
    list_filter = ["status", "type", "policy", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["id", "recipient__id", "subject", "idempotency_key"]
    list_select_related = ["recipient"]
    inlines = [NotifyAttemptInline]


@admin.register(m.StatusCallback)
class StatusCallbackAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    """Set by the service through PUT /notifications/callback; the secret is never shown here."""

    list_display = ["account", "url", "masked_secret", "updated_at"]
    list_filter = [("updated_at", admin.DateFieldListFilter)]
    search_fields = ["account__username", "url"]
    list_select_related = ["account"]
    fields = readonly_fields = ["account", "url", "masked_secret", "updated_at"]

    @admin.display(description="секрет")
    def masked_secret(self, obj):
        return f"whsec_****{obj.secret[-4:]}"
