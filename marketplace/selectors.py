"""Marketplace reads. Developer reads are scoped to the companies the user belongs to."""

from config.api.errors import NotFoundError
from marketplace import gateway
from marketplace.models import Application, AppVersion, Installation, ProviderCompany, Scope


def company_list_for_user(*, user) -> list[ProviderCompany]:
    return list(ProviderCompany.objects.filter(members=user))


def application_list_for_developer(*, user):
    return Application.objects.filter(company__members=user).select_related("company").distinct()


def application_get_for_developer(*, user, code: str, for_update: bool = False) -> Application:
    """The developer's own app. Someone else's app is indistinguishable from an unknown one (404)."""
    queryset = application_list_for_developer(user=user)
    application = queryset.filter(code=code).first()
    if application is None:
        raise NotFoundError(f"Приложение «{code}» не найдено.", code="application_not_found", field="appCode")
    if for_update:  # lock the row: versions and scopes of one app change one at a time
        application = Application.objects.select_for_update().get(pk=application.pk)
    return application


def application_get(*, code: str) -> Application:
    application = Application.objects.filter(code=code).first()
    if application is None:
        raise NotFoundError(f"Приложение «{code}» не найдено.", code="application_not_found", field="appCode")
    return application


def app_version_get(*, application: Application, version: str) -> AppVersion:
    app_version = (AppVersion.objects.select_related("application").prefetch_related("scopes")
                   .filter(application=application, version=version).first())
    if app_version is None:
        raise NotFoundError(f"Версия {version} приложения «{application.code}» не найдена.",
                            code="app_version_not_found", field="appVersion")
    return app_version


def app_version_list(*, application: Application):
    return application.versions.prefetch_related("scopes").order_by("-created_at")


def app_version_has_scope(*, version: AppVersion, code: str) -> bool:
    return version.scope_links.filter(scope__code=code).exists()


def scope_list():
    return Scope.objects.all()


def installation_get(*, tenant_id, application: Application) -> Installation | None:
    return (Installation.objects.select_related("application", "version")
            .filter(tenant_id=tenant_id, application=application).first())


def app_version_ready_to_publish_list(queryset=None):
    """Unpublished versions meeting every publishing condition (the same four `app_version_publish` checks)."""
    queryset = AppVersion.objects.all() if queryset is None else queryset
    ready = queryset.filter(published_at__isnull=True, moderation_status=AppVersion.Moderation.APPROVED,
                            provider_tested_at__isnull=False, sbercrm_tested_at__isnull=False,
                            scope_links__scope__code=Scope.COMMUNICATIONS)
    return gateway.app_versions_with_configuration(ready)
