"""Back-office of SberCRM moderators: companies, apps, the version moderation queue, installations.

Moderation state is read-only in forms and changes only through actions that call services,
so every decision lands in ModerationDecision with who and when.
"""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin import NoAddDeleteMixin, ReadOnlyAdmin, TenantsFilter
from config.errors import ApplicationError
from marketplace import selectors, services
from marketplace.admin_moderation import AppVersionModerationMixin, PendingConfigurationFilter, ReadyToPublishFilter
from marketplace.models import (
    Application,
    AppVersion,
    Installation,
    ModerationDecision,
    ProviderCompany,
    Scope,
)
from marketplace.services import signup


@admin.register(ProviderCompany)
class ProviderCompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "self_signed_up", "is_blocked", "created_at")
    list_filter = ("is_blocked", "self_signed_up", "created_at")
    search_fields = ("name", "members__username", "members__email")
    filter_horizontal = ("members",)
    readonly_fields = ("sandbox_tenant_id", "self_signed_up", "is_blocked", "blocked_at", "created_at")
    actions = ("block", "unblock")

    @admin.action(description="Заблокировать (токены участников перестанут действовать сразу)",
                  permissions=("change",))
    def block(self, request, queryset):
        for company in queryset:
            signup.company_block(company=company, blocked=True)
        self.message_user(request, f"Заблокировано компаний: {queryset.count()}.")

    @admin.action(description="Разблокировать (участники входят заново)", permissions=("change",))
    def unblock(self, request, queryset):
        for company in queryset:
            signup.company_block(company=company, blocked=False)
        self.message_user(request, f"Разблокировано компаний: {queryset.count()}.")


@admin.register(Scope)
class ScopeAdmin(NoAddDeleteMixin, admin.ModelAdmin):
    """Scopes come from migrations; deleting one would silently disable it on every version."""

    list_display = ("code", "label")
    search_fields = ("code", "label")
    readonly_fields = ("code",)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "company", "created_at")
    list_select_related = ("company",)
    search_fields = ("code", "name", "company__name")
    list_filter = ("company",)

    def get_readonly_fields(self, request, obj=None):
        return ("code", "created_by", "created_at") if obj else ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class ModerationDecisionInline(admin.TabularInline):
    model = ModerationDecision
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "actor", "reason")
    readonly_fields = fields
    verbose_name_plural = "история решений"

    def has_add_permission(self, request, obj=None):
        return False


class AppVersionAdminForm(forms.ModelForm):
    scope_set = forms.ModelMultipleChoiceField(
        label="Скоупы доступа", queryset=Scope.objects.all(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="«Коммуникации» можно включить в любой версии, но отключить нельзя.")

    class Meta:
        model = AppVersion
        fields: tuple = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["scope_set"].initial = list(self.instance.scopes.all())

    def clean_scope_set(self):
        scopes = self.cleaned_data["scope_set"]
        try:
            services.scopes_removal_check(version=self.instance, codes=[scope.code for scope in scopes])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message)
        return scopes


def _version_action(description: str, success: str, call):
    """An AppVersionAdmin action that calls `call(version=..., actor=<the moderator>)` on each selected version."""

    @admin.action(description=description)
    def action(model_admin, request, queryset):
        model_admin._apply(request, queryset, success, lambda version: call(version=version, actor=request.user))

    return action


class RejectActionForm(ActionForm):
    reason = forms.CharField(label="Причина (отклонения или отметки SberCRM без прогона)", required=False,
                             widget=forms.TextInput(attrs={"size": 60}))


@admin.register(AppVersion)
class AppVersionAdmin(AppVersionModerationMixin, NoAddDeleteMixin, admin.ModelAdmin):
    """Moderation queue. Versions are created by developers through the API, not here."""

    form = AppVersionAdminForm
    action_form = RejectActionForm
    list_display = ("application", "version", "moderation_status", "provider_tested_at", "sbercrm_tested_at",
                    "published_at", "created_at")
    list_filter = ("moderation_status", ReadyToPublishFilter, PendingConfigurationFilter, ("published_at", admin.EmptyFieldListFilter),
                   "application__company")
    list_select_related = ("application",)
    search_fields = ("application__code", "application__name", "version")
    fields = ("application", "version", "scope_set", "moderation_status", "rejection_reason",
              "provider_tested_at", "provider_tested_by", "sbercrm_tested_at", "sbercrm_tested_by",
              "sbercrm_tested_configuration", "test_stand", "published_at", "publish_conditions")
    readonly_fields = ("application", "version", "moderation_status", "rejection_reason", "provider_tested_at",
                       "provider_tested_by", "sbercrm_tested_at", "sbercrm_tested_by", "sbercrm_tested_configuration",
                       "test_stand", "published_at", "publish_conditions")
    inlines = (ModerationDecisionInline,)
    actions = ("approve", "reject", "mark_provider_tested", "start_test_run", "mark_sbercrm_tested",
               "override_sbercrm_tested", "publish")

    @admin.display(description="Невыполненные условия публикации")
    def publish_conditions(self, obj):
        unmet = selectors.app_version_unmet_conditions(version=obj)
        if not unmet:
            return "Все условия выполнены"
        return format_html_join("", "<div>• {}</div>", ((item["message"],) for item in unmet))

    @admin.display(description="Тестовый стенд: последний прогон активной конфигурации")
    def test_stand(self, obj):
        run = selectors.app_version_test_run_latest(version=obj)
        if run is None:
            return "Прогонов нет — запустите проверку действием «Запустить проверку на тестовом стенде»."
        url = reverse("admin:communications_conformancerun_change", args=[run["id"]])
        return format_html('<a href="{}">#{}</a> · конфигурация {} · {} {}', url, run["id"],
                           run["configurationVersion"], run["status"], run["summary"])

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.app_version_scopes_set(version=form.instance, actor=request.user,
                                        scopes=[scope.code for scope in form.cleaned_data["scope_set"]])

    def _apply(self, request, queryset, success: str, call):
        for version in queryset.select_related("application"):
            try:
                call(version)
            except ApplicationError as exc:
                self.message_user(request, f"{version}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{version}: {success}", level=messages.SUCCESS)

    @admin.action(description="Отклонить (укажите причину в поле рядом)")
    def reject(self, request, queryset):
        reason = request.POST.get("reason", "")
        self._apply(request, queryset, "отклонена",
                    lambda version: services.app_version_reject(version=version, actor=request.user, reason=reason))

    @admin.action(description="Отметить тестирование SberCRM без пройденного прогона (укажите причину)")
    def override_sbercrm_tested(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Укажите причину в поле рядом с действием.", level=messages.ERROR)
            return
        self._apply(request, queryset, "тестирование SberCRM отмечено решением модератора",
                    lambda version: services.app_version_mark_tested(version=version, actor=request.user,
                                                                     side="sbercrm", override_reason=reason))

    approve = _version_action("Одобрить модерацию", "модерация одобрена", services.app_version_approve)
    mark_provider_tested = _version_action(
        "Тестирование пройдено: команда провайдера", "тестирование провайдера отмечено",
        partial(services.app_version_mark_tested, side="provider"))
    start_test_run = _version_action(
        "Запустить проверку на тестовом стенде", "прогон поставлен в очередь, отчёт — в «Прогоны тестового стенда»",
        partial(services.app_version_test_run_start, origin="moderator"))
    mark_sbercrm_tested = _version_action(
        "Тестирование пройдено: команда SberCRM (нужен пройденный прогон)", "тестирование SberCRM отмечено",
        partial(services.app_version_mark_tested, side="sbercrm"))
    publish = _version_action("Опубликовать (покажет невыполненные условия)", "опубликована",
                              services.app_version_publish)


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "version", "action", "actor", "reason")
    list_filter = ("action",)
    list_select_related = ("version__application", "actor")
    search_fields = ("version__application__code", "actor__username")


class SandboxFilter(TenantsFilter):
    CHOICES = TenantsFilter.CHOICES[:2]  # no «Все»

    def sandbox_tenants(self):
        return ProviderCompany.objects.values("sandbox_tenant_id")


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdmin):
    """Installations change only through the marketplace installations API (it keeps the module in sync)."""

    list_display = ("tenant_id", "application", "version", "status", "installed_at", "disabled_at")
    list_filter = ("status", SandboxFilter, "application")
    date_hierarchy = "installed_at"
    list_select_related = ("application", "version__application")
    search_fields = ("tenant_id", "application__code")
