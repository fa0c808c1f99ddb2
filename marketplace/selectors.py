"""Marketplace reads. Developer reads are scoped to the companies the user belongs to."""

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q

from config.errors import NotFoundError
from marketplace import gateway
from marketplace.models import Application, AppVersion, AppVersionScope, Installation, ProviderCompany, Scope


def company_list_for_user(*, user) -> list[ProviderCompany]:
    return list(ProviderCompany.objects.filter(members=user, is_blocked=False))


def application_list_for_developer(*, user):
    return (Application.objects.filter(company__members=user, company__is_blocked=False)
            .select_related("company").distinct())


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


# --- publishing conditions: THE one source for publishing, the dashboard and `?ready=1` -------------

def _with_condition_facts(queryset):
    """Annotate what the conditions need from outside the row: the scope and the active configuration."""
    scope = AppVersionScope.objects.filter(version=OuterRef("pk"), scope__code=Scope.COMMUNICATIONS)
    return queryset.annotate(has_communications=Exists(scope),
                             active_configuration=gateway.active_configuration_version_subquery())


def _conditions() -> list[tuple[str, Q]]:
    """Every publishing condition (spec «Приложение провайдера», rule 1) as (code, SQL test that it holds)."""
    tested_covers_active = (Q(has_communications=False) | Q(sbercrm_tested_configuration="")
                            | Q(active_configuration__isnull=True)
                            | Q(sbercrm_tested_configuration=F("active_configuration")))
    return [
        ("communications_scope", Q(has_communications=True)),
        ("provider_configuration", Q(has_communications=False) | Q(active_configuration__isnull=False)),
        ("moderation", Q(moderation_status=AppVersion.Moderation.APPROVED)),
        ("provider_testing", Q(provider_tested_at__isnull=False)),
        ("sbercrm_testing", Q(sbercrm_tested_at__isnull=False) & tested_covers_active),
    ]


_MESSAGES = {
    "communications_scope": "Не включён скоуп «Коммуникации».",
    "provider_configuration": "В модуль коммуникаций не загружена конфигурация провайдера для этой версии.",
    "moderation": "Модерация командой SberCRM не пройдена.",
    "provider_testing": "Тестирование не подтверждено командой провайдера.",
    "sbercrm_testing": "Тестирование не подтверждено командой SberCRM.",
}


def app_version_unmet_conditions(*, version: AppVersion) -> list[dict]:
    """Every publishing condition that does not hold yet for the stored row: [{code, message}]."""
    flags = {f"met_{code}": ExpressionWrapper(test, output_field=BooleanField()) for code, test in _conditions()}
    row = (_with_condition_facts(AppVersion.objects.filter(pk=version.pk)).annotate(**flags)
           .values("sbercrm_tested_at", "sbercrm_tested_configuration", "active_configuration", *flags).get())
    unmet = []
    for code, _ in _conditions():
        if row[f"met_{code}"]:
            continue
        message = _MESSAGES[code]
        if code == "sbercrm_testing" and row["sbercrm_tested_at"] is not None:
            tested, active = row["sbercrm_tested_configuration"], row["active_configuration"]
            message = (f"Тестирование SberCRM подтверждено для конфигурации {tested}, а активна {active}: "
                       "нужен новый прогон на тестовом стенде и новая отметка.")
        unmet.append({"code": code, "message": message})
    return unmet


def app_version_ready_to_publish_list(queryset=None):
    """Unpublished versions meeting every publishing condition (one SQL query, same rules as publishing)."""
    queryset = AppVersion.objects.all() if queryset is None else queryset
    ready = Q(published_at__isnull=True)
    for _, test in _conditions():
        ready &= test
    return _with_condition_facts(queryset).filter(ready)


def app_version_pending_configuration_list(queryset=None):
    """Versions with a configuration waiting for the test stand and SberCRM's mark (the moderation queue)."""
    queryset = AppVersion.objects.all() if queryset is None else queryset
    return gateway.app_versions_with_pending_configuration(queryset)


def developer_app_codes(*, user) -> list[str]:
    return list(application_list_for_developer(user=user).values_list("code", flat=True))


def developer_sandbox_tenant_ids(*, user) -> list:
    return [company.sandbox_tenant_id for company in company_list_for_user(user=user)]


# --- reads the services used to hold: test-stand runs and the provider configuration of a version ---

def app_version_test_run_latest(*, version: AppVersion) -> dict | None:
    return gateway.conformance_run_latest(app_code=version.application.code, app_version=version.version)


def app_version_test_runs(*, version: AppVersion) -> list[dict]:
    return gateway.conformance_run_list(app_code=version.application.code, app_version=version.version)


def app_version_test_run(*, version: AppVersion, run_id: int) -> dict:
    return gateway.conformance_run_get(app_code=version.application.code, app_version=version.version,
                                       run_id=run_id)


def provider_configuration_read(*, version: AppVersion, with_history: bool = False) -> dict:
    """The active configuration of the developer's app version (key masked); 404 when there is none."""
    result = None
    if app_version_has_scope(version=version, code=Scope.COMMUNICATIONS):
        result = gateway.provider_configuration_get(app_code=version.application.code, app_version=version.version,
                                                    with_history=with_history)
    if result is None:
        raise NotFoundError(f"Для версии {version.version} конфигурация провайдера не загружена.",
                            code="configuration_not_found", field="appVersion")
    return result
