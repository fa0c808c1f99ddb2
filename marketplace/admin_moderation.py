"""The moderation page of an app version: everything a moderator needs on one screen,
and the approve / reject / publish buttons, each calling its service.

Mixed into `AppVersionAdmin`; the page is its change form with a moderation panel on top
(template `admin/marketplace/appversion/moderation.html`).
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from config.admin import OneChoiceFilter
from config.errors import ApplicationError
from marketplace import gateway, selectors, services
from marketplace.models import AppVersion, Scope
from marketplace.selectors import app_version_pending_configuration_list, app_version_ready_to_publish_list


class ReadyToPublishFilter(OneChoiceFilter):
    title = "готовность к публикации"
    parameter_name = "ready"
    choice = "все условия выполнены, не опубликована"
    narrow = staticmethod(app_version_ready_to_publish_list)


class PendingConfigurationFilter(OneChoiceFilter):
    """The moderation queue of configurations uploaded to published versions (docs/moderator-back-office.md)."""

    title = "новая конфигурация на проверке"
    parameter_name = "pending_configuration"
    choice = "ждёт прогона стенда и отметки SberCRM"
    narrow = staticmethod(app_version_pending_configuration_list)


def moderation_context(version: AppVersion) -> dict:
    """What the moderation panel shows: scope, configuration (key masked), test-stand marks, conditions."""
    configuration = pending = None
    if any(link.scope.code == Scope.COMMUNICATIONS for link in version.scope_links.all()):
        code = version.application.code
        configuration = gateway.provider_configuration_get(app_code=code, app_version=version.version)
        pending = gateway.provider_configuration_pending_get(app_code=code, app_version=version.version)
    return {
        "pending_configuration": pending,
        "pending_endpoints": sorted((pending or {}).get("endpoints", {}).items()),
        "scope_links": list(version.scope_links.select_related("scope", "enabled_by")),
        "configuration": configuration,
        "endpoints": sorted((configuration or {}).get("endpoints", {}).items()),
        "unmet": selectors.app_version_unmet_conditions(version=version),
    }


class AppVersionModerationMixin:
    """Adds the moderation panel and `<id>/moderate/<decision>/` POST endpoints to AppVersionAdmin."""

    change_form_template = "admin/marketplace/appversion/moderation.html"
    DECISIONS = ("approve", "reject", "publish")

    def get_urls(self):
        view = self.admin_site.admin_view(self.moderate_view)
        return [path("<int:object_id>/moderate/<str:decision>/", view, name="marketplace_appversion_moderate"),
                *super().get_urls()]

    def get_actions(self, request):
        """Every moderation action changes the version: none for view-only staff."""
        return super().get_actions(request) if self.has_change_permission(request) else {}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        if version is not None:
            extra_context = {**(extra_context or {}), **moderation_context(version),
                             "can_moderate": self.has_change_permission(request, version)}
        return super().change_view(request, object_id, form_url, extra_context)

    def moderate_view(self, request, object_id, decision):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = get_object_or_404(AppVersion.objects.select_related("application"), pk=object_id)
        if decision not in self.DECISIONS or not self.has_change_permission(request, version):
            raise PermissionDenied
        actor = request.user
        try:
            if decision == "approve":
                services.app_version_approve(version=version, actor=actor)
                done = "модерация одобрена"
            elif decision == "reject":
                services.app_version_reject(version=version, actor=actor, reason=request.POST.get("reason", ""))
                done = "версия отклонена"
            else:
                services.app_version_publish(version=version, actor=actor)
                done = "версия опубликована"
        except ApplicationError as exc:
            unmet = exc.extra.get("unmet")
            if unmet:
                self.message_user(request, f"{version}: публикация невозможна, не выполнено:", messages.ERROR)
                for item in unmet:
                    self.message_user(request, f"— {item['message']}", messages.ERROR)
            else:
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"{version}: {done}", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:marketplace_appversion_change", args=[version.pk]))
