"""Read-only support views of what providers pushed, plus issuing/deactivating integration tokens."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from communications import models
from communications.admin.filters import SandboxTenantsFilter
from communications.channels import channel_kind
from communications.services import files
from communications.services.tokens import integration_token_deactivate, integration_token_issue
from config.admin import BigTableAdminMixin, NoAddDeleteMixin, ReadOnlyAdmin, ReadOnlyMixin
from config.errors import ApplicationError


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


class IntegrationTokenIssueForm(forms.Form):
    tenant_id = forms.UUIDField(label="UUID тенанта")
    provider = forms.ModelChoiceField(label="Провайдер", queryset=models.Provider.objects.filter(is_active=True))


@admin.register(models.IntegrationToken)
class IntegrationTokenAdmin(NoAddDeleteMixin, admin.ModelAdmin):
    """Statuses and dates only: the token value is never stored, it is shown once at issue."""

    list_display = ("jti", "tenant_id", "provider", "status", "issued_at", "expires_at", "deactivated_at", "issued_by")
    list_filter = ("status", SandboxTenantsFilter, "provider")
    search_fields = ("=tenant_id", "=jti")
    list_select_related = ("provider",)
    readonly_fields = list_display
    fields = list_display
    actions = ["deactivate_tokens"]
    change_list_template = "admin/communications/integrationtoken/change_list.html"

    @admin.action(description="Деактивировать выбранные токены", permissions=["change"])
    def deactivate_tokens(self, request, queryset):
        count = 0
        for token in queryset.filter(status=models.IntegrationToken.Status.ACTIVE):
            integration_token_deactivate(token=token)
            count += 1
        self.message_user(request, f"Деактивировано токенов: {count}. Провайдер получит 401 со следующего запроса.")

    def get_urls(self):
        issue = self.admin_site.admin_view(self.issue_view)
        return [path("issue/", issue, name="communications_integrationtoken_issue"), *super().get_urls()]

    def issue_view(self, request):
        """Issue a token: the value is rendered into this one response and stored nowhere."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = IntegrationTokenIssueForm(request.POST or None)
        issued = None
        if request.method == "POST" and form.is_valid():
            try:
                issued = integration_token_issue(tenant_id=form.cleaned_data["tenant_id"],
                                                 provider=form.cleaned_data["provider"],
                                                 issued_by=f"admin:{request.user.get_username()}")
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Токен выпущен. Скопируйте его сейчас: повторно он не показывается.",
                                  messages.WARNING)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "issued": issued, "title": "Выпуск токена интеграции",
                   "changelist_url": reverse("admin:communications_integrationtoken_changelist")}
        return TemplateResponse(request, "admin/communications/integrationtoken/issue.html", context)


@admin.register(models.Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "tenant_id", "provider", "parent", "channel_name", "is_active", "activated_at",
                    "deactivated_at")
    list_filter = ("kind", "is_active", SandboxTenantsFilter, "provider")
    search_fields = ("=tenant_id", "channel__external_id", "channel__name")
    list_select_related = ("provider", "parent", "channel")

    @admin.display(description="канал")
    def channel_name(self, account):
        channel = getattr(account, "channel", None)
        return str(channel) if channel else "—"


def _icon(code: str):
    kind = channel_kind(code)
    return format_html('<img src="{}" alt="" width="20" height="20" style="vertical-align:middle"> {}',
                       kind.icon_url, kind.name)


@admin.register(models.Channel)
class ChannelAdmin(ReadOnlyAdmin):
    list_display = ("icon", "name", "code", "external_id", "tenant_id", "provider", "is_active", "created_at")
    list_filter = ("code", SandboxTenantsFilter, "provider", "account__is_active")
    search_fields = ("external_id", "name", "=tenant_id")
    list_select_related = ("provider", "account")

    @admin.display(description="канал")
    def icon(self, channel):
        return _icon(channel.code)

    @admin.display(description="активен", boolean=True)
    def is_active(self, channel):
        return channel.account.is_active


class ParticipantInline(ReadOnlyInline):
    model = models.Participant
    fields = ("external_id", "name", "username", "phone")
    show_change_link = False


class MessageInline(ReadOnlyInline):
    model = models.Message
    fields = ("external_id", "direction", "text", "status", "seen_flag", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)


@admin.register(models.Chat)
class ChatAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    list_display = ("__str__", "external_id", "channel_icon", "tenant_id", "provider", "participant_count",
                    "message_count", "updated_at")
    list_filter = (SandboxTenantsFilter, "provider")
    search_fields = ("external_id", "title", "=tenant_id")
    list_select_related = ("provider", "channel")
    inlines = [ParticipantInline, MessageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            participant_total=Count("participants", distinct=True), message_total=Count("messages", distinct=True))

    @admin.display(description="канал")
    def channel_icon(self, chat):
        return _icon(chat.channel.code) if chat.channel else "—"

    @admin.display(description="участников", ordering="participant_total")
    def participant_count(self, chat):
        return chat.participant_total

    @admin.display(description="сообщений", ordering="message_total")
    def message_count(self, chat):
        return chat.message_total


class MessageEditInline(ReadOnlyInline):
    model = models.MessageEdit
    fields = ("edited_at", "previous_text", "new_text")
    readonly_fields = fields
    show_change_link = False


class AttachmentInline(ReadOnlyInline):
    model = models.Attachment
    fields = ("position", "type", "preview", "name", "mime_type", "size", "status", "failure_reason", "checksum")
    readonly_fields = fields
    show_change_link = False

    @admin.display(description="файл")
    def preview(self, attachment):
        """Images as a thumbnail, other files as a link; both through a short-lived signed URL."""
        url = files.signed_url(attachment, ttl=600)
        if not url:
            return attachment.get_status_display()
        if attachment.type in ("image", "sticker") and attachment.mime_type.startswith("image/"):
            return format_html('<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="" '
                               'style="max-width:160px;max-height:160px"></a>', url, url)
        return format_html('<a href="{}" target="_blank" rel="noopener">скачать</a>', url)


class MessageStatusInline(ReadOnlyInline):
    model = models.MessageStatusHistory
    fields = ("changed_at", "status", "error")
    readonly_fields = fields
    show_change_link = False


@admin.register(models.Message)
class MessageAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    list_display = ("external_id", "chat", "direction", "status", "seen_flag", "provider", "tenant_id", "created_at",
                    "edited_at")
    list_filter = ("direction", "status", "seen_flag", SandboxTenantsFilter, "provider")
    search_fields = ("external_id", "chat__external_id", "=tenant_id")
    list_select_related = ("chat", "provider")
    inlines = [AttachmentInline, MessageEditInline, MessageStatusInline]


@admin.register(models.MessageStatusHistory)
class MessageStatusHistoryAdmin(BigTableAdminMixin, ReadOnlyAdmin):
    list_display = ("message", "status", "error", "changed_at")
    list_filter = ("status",)
    search_fields = ("message__external_id",)
    list_select_related = ("message",)


@admin.register(models.Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("url", "events", "tenant_id", "provider", "updated_at")
    list_filter = (SandboxTenantsFilter, "provider")
    list_select_related = ("provider",)
    search_fields = ("url", "=tenant_id")
    fields = ("url", "events", "tenant_id", "provider", "created_at", "updated_at")  # never the secret
    readonly_fields = fields
