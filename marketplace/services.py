"""Marketplace writes: apps, versions, scopes, moderation, publishing, tenant installations.

Everything that concerns the communications module goes through `marketplace.gateway`.
"""

import logging

from django.db import transaction
from django.utils import timezone

from config.api.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from marketplace import gateway
from marketplace.models import (
    Application,
    AppVersion,
    AppVersionScope,
    Installation,
    ModerationDecision,
    ProviderCompany,
    Scope,
)
from marketplace.selectors import app_version_has_scope, app_version_unmet_conditions, installation_get

logger = logging.getLogger(__name__)
Action = ModerationDecision.Action
COMMUNICATIONS = Scope.COMMUNICATIONS


def _record(*, version: AppVersion, action: str, actor, reason: str = "") -> ModerationDecision:
    return ModerationDecision.objects.create(version=version, action=action, actor=actor, reason=reason)


# --- applications and versions ------------------------------------------------------------------

@transaction.atomic
def application_create(*, company: ProviderCompany, code: str, name: str, actor=None) -> Application:
    if Application.objects.filter(code=code).exists():
        raise ConflictError("Системное имя уже занято.", code="application_code_taken", field="code")
    return Application.objects.create(company=company, code=code, name=name, created_by=actor)


def _scopes_by_code(codes) -> list[Scope]:
    codes = list(dict.fromkeys(codes))
    scopes = list(Scope.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {scope.code for scope in scopes})
    if unknown:
        raise ApplicationError(f"Неизвестные скоупы: {', '.join(unknown)}.", code="unknown_scope", field="scopes")
    return scopes


def _communications_locked(version: AppVersion) -> bool:
    """The scope can't be disabled here: it is on this version or on an earlier one."""
    return AppVersionScope.objects.filter(
        version__application=version.application, version__id__lte=version.id,
        scope__code=COMMUNICATIONS).exists()


def scopes_removal_check(*, version: AppVersion, codes) -> None:
    """Raise if the new scope set would disable «Коммуникации» (used by the API and the admin form)."""
    if COMMUNICATIONS not in set(codes) and _communications_locked(version):
        raise ApplicationError("Скоуп «Коммуникации» нельзя отключить: он уже включён в этой или предыдущей версии.",
                               code="communications_scope_locked", field="scopes")


def _enable_communications(*, version: AppVersion, actor) -> None:
    """Enable the scope on `version` and every later one, and register the provider (spec rules 2, 5, 6)."""
    scope = Scope.objects.get(code=COMMUNICATIONS)
    later = version.application.versions.filter(id__gte=version.id)
    for each in later:
        AppVersionScope.objects.get_or_create(version=each, scope=scope, defaults={"enabled_by": actor})
    application = version.application
    gateway.provider_register(code=application.code, label=application.name)


@transaction.atomic
def app_version_scopes_set(*, version: AppVersion, scopes: list[str], actor=None) -> AppVersion:
    """Replace the version's scopes. «Коммуникации» can be added on any version but never removed."""
    wanted = _scopes_by_code(scopes)
    codes = {scope.code for scope in wanted}
    scopes_removal_check(version=version, codes=codes)
    had_communications = app_version_has_scope(version=version, code=COMMUNICATIONS)
    version.scope_links.exclude(scope__code__in=codes).delete()
    for scope in wanted:
        AppVersionScope.objects.get_or_create(version=version, scope=scope, defaults={"enabled_by": actor})
    if COMMUNICATIONS in codes and not had_communications:
        _enable_communications(version=version, actor=actor)
    return version


@transaction.atomic
def app_version_create(*, application: Application, version: str, scopes: list[str] | None = None,
                       actor=None) -> AppVersion:
    """A new version: semver above every existing one; inherits the previous version's scopes.

    With «Коммуникации» enabled, the module is notified and binds the previous configuration.
    """
    application = Application.objects.select_for_update().get(pk=application.pk)
    if not gateway.semver_is_valid(version):
        raise ApplicationError("Версия должна соответствовать SemVer 2.0.0, например 1.2.0.", field="version")
    existing = list(application.versions.values_list("version", flat=True))
    highest = max(existing, key=gateway.semver_key, default=None)
    if highest is not None and not gateway.semver_key(version) > gateway.semver_key(highest):
        raise ApplicationError(f"Новая версия должна быть больше последней ({highest}).",
                               code="version_not_increased", field="version")
    previous = application.versions.filter(version=highest).first() if highest else None
    inherited = set(previous.scope_links.values_list("scope__code", flat=True)) if previous else set()
    codes = inherited if scopes is None else set(scopes)
    if COMMUNICATIONS in inherited and COMMUNICATIONS not in codes:
        raise ApplicationError("Скоуп «Коммуникации» нельзя отключить: он включён в предыдущей версии.",
                               code="communications_scope_locked", field="scopes")
    wanted = _scopes_by_code(codes)
    new = AppVersion.objects.create(application=application, version=version)
    for scope in wanted:
        AppVersionScope.objects.create(version=new, scope=scope, enabled_by=actor)
    if COMMUNICATIONS in codes:
        if COMMUNICATIONS not in inherited:
            gateway.provider_register(code=application.code, label=application.name)
        gateway.app_version_created(app_code=application.code, app_version=version)
    return new


# --- moderation, testing, publishing ------------------------------------------------------------

@transaction.atomic
def app_version_submit(*, version: AppVersion, actor) -> AppVersion:
    if version.moderation_status not in (AppVersion.Moderation.DRAFT, AppVersion.Moderation.REJECTED):
        raise ConflictError("Версия уже на модерации или одобрена.", code="invalid_moderation_state")
    version.moderation_status = AppVersion.Moderation.PENDING
    version.save(update_fields=["moderation_status"])
    _record(version=version, action=Action.SUBMITTED, actor=actor)
    return version


@transaction.atomic
def app_version_approve(*, version: AppVersion, actor) -> AppVersion:
    version.moderation_status, version.rejection_reason = AppVersion.Moderation.APPROVED, ""
    version.save(update_fields=["moderation_status", "rejection_reason"])
    _record(version=version, action=Action.APPROVED, actor=actor)
    return version


@transaction.atomic
def app_version_reject(*, version: AppVersion, actor, reason: str) -> AppVersion:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Укажите причину отклонения.", code="reason_required", field="reason")
    if version.is_published:
        raise ConflictError("Опубликованную версию нельзя отклонить.", code="already_published")
    version.moderation_status, version.rejection_reason = AppVersion.Moderation.REJECTED, reason
    version.save(update_fields=["moderation_status", "rejection_reason"])
    _record(version=version, action=Action.REJECTED, actor=actor, reason=reason)
    return version


@transaction.atomic
def app_version_mark_tested(*, version: AppVersion, actor, side: str, override_reason: str = "") -> AppVersion:
    """Testing on the test stand passed, confirmed by one side: "provider" or "sbercrm".

    The SberCRM mark needs the latest test-stand run of the version's active configuration to have
    passed. A moderator (staff) can override with a written reason; the override is recorded.
    """
    if side not in ("provider", "sbercrm"):
        raise ApplicationError("Сторона тестирования: provider или sbercrm.", field="side")
    action, reason, update = Action.PROVIDER_TESTED, "", []
    if side == "sbercrm":
        action, reason = _sbercrm_testing_evidence(version=version, actor=actor, override_reason=override_reason)
        activated = _pending_configuration_activate(version=version, action=action)
        if activated:
            reason += f" Конфигурация {activated} стала активной для версии {version.version}."
        version.sbercrm_tested_configuration = _active_configuration_version(version) or ""
        update.append("sbercrm_tested_configuration")
    setattr(version, f"{side}_tested_at", timezone.now())
    setattr(version, f"{side}_tested_by", actor)
    version.save(update_fields=[f"{side}_tested_at", f"{side}_tested_by", *update])
    _record(version=version, action=action, actor=actor, reason=reason)
    return version


def _pending_configuration_activate(*, version: AppVersion, action: str) -> str | None:
    """The SberCRM mark activates a pending configuration, but only on a passed run: no override."""
    if not _uses_communications(version):
        return None
    code = version.application.code
    if gateway.provider_configuration_pending_get(app_code=code, app_version=version.version) is None:
        return None
    if action != Action.SBERCRM_TESTED:
        raise ConflictError("Новая конфигурация опубликованной версии становится активной только после пройденного "
                            "прогона тестового стенда; отметка без прогона для неё невозможна.",
                            code="teststand_not_passed")
    return gateway.provider_configuration_pending_activate(app_code=code, app_version=version.version)


def _active_configuration_version(version: AppVersion) -> str | None:
    if not app_version_has_scope(version=version, code=COMMUNICATIONS):
        return None
    return gateway.provider_configuration_active_version(app_code=version.application.code,
                                                         app_version=version.version)


def _sbercrm_testing_evidence(*, version: AppVersion, actor, override_reason: str) -> tuple[str, str]:
    """(decision action, recorded reason) for the SberCRM mark, or raise when it is not allowed."""
    latest = app_version_test_run_latest(version=version)
    if latest and latest["passed"]:
        return Action.SBERCRM_TESTED, (f"Прогон тестового стенда #{latest['id']} пройден "
                                       f"(конфигурация {latest['configurationVersion']}).")
    if latest is None:
        problem = "для активной конфигурации версии нет ни одного прогона на тестовом стенде"
    elif latest["status"] in ("queued", "running"):
        problem = f"последний прогон #{latest['id']} ещё выполняется"
    else:
        problem = f"последний прогон #{latest['id']} не пройден: {latest['summary']}"
    override_reason = (override_reason or "").strip()
    if not override_reason:
        raise ConflictError(f"Отметку SberCRM нельзя поставить: {problem}. Запустите прогон или, если вы "
                            "модератор, отметьте с обоснованием.", code="teststand_not_passed")
    if not getattr(actor, "is_staff", False):
        raise ForbiddenError("Отметить тестирование без пройденного прогона может только модератор SberCRM.",
                             code="override_forbidden")
    return Action.SBERCRM_TESTED_OVERRIDE, f"{override_reason} [Без пройденного прогона: {problem}.]"


@transaction.atomic
def app_version_test_run_start(*, version: AppVersion, actor, origin: str) -> dict:
    """Queue a test-stand run of the version's active configuration; recorded in the decision history."""
    if not app_version_has_scope(version=version, code=COMMUNICATIONS):
        raise ApplicationError("В этой версии приложения не включён скоуп «Коммуникации».",
                               code="communications_scope_disabled", field="appVersion")
    run = gateway.conformance_run_start(app_code=version.application.code, app_version=version.version,
                                        origin=origin, actor=actor)
    _record(version=version, action=Action.TEST_RUN_STARTED, actor=actor,
            reason=f"Прогон #{run['id']} (конфигурация {run['configurationVersion']}).")
    return run


def app_version_test_run_latest(*, version: AppVersion) -> dict | None:
    return gateway.conformance_run_latest(app_code=version.application.code, app_version=version.version)


def app_version_test_runs(*, version: AppVersion) -> list[dict]:
    return gateway.conformance_run_list(app_code=version.application.code, app_version=version.version)


def app_version_test_run(*, version: AppVersion, run_id: int) -> dict:
    return gateway.conformance_run_get(app_code=version.application.code, app_version=version.version,
                                       run_id=run_id)


@transaction.atomic
def app_version_publish(*, version: AppVersion, actor) -> AppVersion:
    """Publish when every condition holds (`selectors.app_version_unmet_conditions`); otherwise a 400
    listing every unmet one (`unmet`)."""
    list(AppVersion.objects.select_for_update().filter(pk=version.pk).values_list("pk"))  # uploads wait for it
    version.refresh_from_db()
    if version.is_published:
        return version
    unmet = app_version_unmet_conditions(version=version)
    if unmet:
        raise ApplicationError("Версию нельзя опубликовать: " + " ".join(item["message"] for item in unmet),
                               code="publish_conditions_unmet", extra={"unmet": unmet})
    version.published_at = timezone.now()
    version.save(update_fields=["published_at"])
    _record(version=version, action=Action.PUBLISHED, actor=actor)
    return version


# --- tenant installations -----------------------------------------------------------------------

def _installable(version: AppVersion) -> None:
    if not version.is_published:
        raise ApplicationError("Можно установить только опубликованную версию.", code="version_not_published",
                               field="appVersion")


def _uses_communications(version: AppVersion) -> bool:
    return app_version_has_scope(version=version, code=COMMUNICATIONS)


@transaction.atomic
def installation_install(*, tenant_id, version: AppVersion) -> tuple[Installation, bool]:
    """Install for a tenant (POST /internal/v1/tenant-configurations). Repeating it is a no-op."""
    application = version.application
    current = installation_get(tenant_id=tenant_id, application=application)
    if current and current.status == Installation.Status.INSTALLED:
        if current.version_id == version.pk:
            return current, False
        raise ConflictError(f"Приложение уже установлено в версии {current.version.version}; используйте обновление.",
                            code="already_installed", field="appVersion")
    _installable(version)
    if current is None:
        current = Installation(tenant_id=tenant_id, application=application)
    current.version, current.status, current.disabled_at = version, Installation.Status.INSTALLED, None
    current.save()
    if _uses_communications(version):
        gateway.tenant_configuration_create(tenant_id=tenant_id, app_code=application.code,
                                            app_version=version.version)
    return current, True


def _installed_or_404(*, tenant_id, application: Application) -> Installation:
    current = installation_get(tenant_id=tenant_id, application=application)
    if current is None or current.status != Installation.Status.INSTALLED:
        raise NotFoundError("Приложение не установлено этому тенанту.", code="installation_not_found",
                            field="tenantId")
    return current


@transaction.atomic
def installation_upgrade(*, tenant_id, version: AppVersion) -> Installation:
    """Manual upgrade to a newer published version (PUT /internal/v1/tenant-configurations)."""
    current = _installed_or_404(tenant_id=tenant_id, application=version.application)
    if current.version_id == version.pk:
        return current
    if not gateway.semver_key(version.version) > gateway.semver_key(current.version.version):
        raise ApplicationError(f"Можно обновиться только на более новую версию (сейчас {current.version.version}).",
                               code="invalid_upgrade", field="appVersion")
    _installable(version)
    had_communications = _uses_communications(current.version)
    current.version = version
    current.save(update_fields=["version", "updated_at"])
    code = version.application.code
    if had_communications:
        gateway.tenant_configuration_upgrade(tenant_id=tenant_id, app_code=code, app_version=version.version)
    elif _uses_communications(version):  # the scope was first enabled in the new version
        gateway.tenant_configuration_create(tenant_id=tenant_id, app_code=code, app_version=version.version)
    return current


@transaction.atomic
def installation_uninstall(*, tenant_id, application: Application) -> Installation:
    """Disable the app for a tenant (DELETE /internal/v1/tenant-configurations). Repeating it is a no-op."""
    current = installation_get(tenant_id=tenant_id, application=application)
    if current is None:
        raise NotFoundError("Приложение не установлено этому тенанту.", code="installation_not_found",
                            field="tenantId")
    if current.status == Installation.Status.DISABLED:
        return current
    current.status, current.disabled_at = Installation.Status.DISABLED, timezone.now()
    current.save(update_fields=["status", "disabled_at", "updated_at"])
    if _uses_communications(current.version):
        gateway.tenant_configuration_delete(tenant_id=tenant_id, app_code=application.code)
    return current


# --- the provider's signing secret (developer API) -----------------------------------------------

@transaction.atomic
def application_signing_secret_rotate(*, application: Application, actor) -> dict:
    """Issue the app's new signing secret: `{secret, previousValidHours}` (shown once; the old one keeps
    signing meanwhile). The caller resolved `application` through the developer-scoped selector."""
    if not AppVersionScope.objects.filter(version__application=application, scope__code=COMMUNICATIONS).exists():
        raise ConflictError("Скоуп «Коммуникации» не включён ни в одной версии приложения: вызовов провайдеру "
                            "нет, подписывать нечего.", code="communications_scope_disabled", field="code")
    rotated = gateway.provider_signing_secret_rotate(app_code=application.code)
    logger.info("signing secret rotated app=%s actor=%s", application.code, getattr(actor, "pk", None))
    return rotated


# --- provider configurations (developer API) ----------------------------------------------------

@transaction.atomic
def provider_configuration_save(*, application: Application, version: AppVersion, data: dict, mode: str,
                                actor) -> dict:
    """Upload a configuration for the developer's own app version (POST = create, PUT = update).

    On a published version the upload waits (pending) until a passing test-stand run and SberCRM's mark
    (`app_version_mark_tested`); tenants keep the configuration that passed until then.

    The caller has already resolved `application` through the developer-scoped selector.
    """
    if not _uses_communications(version):
        raise ApplicationError("В этой версии приложения не включён скоуп «Коммуникации».",
                               code="communications_scope_disabled", field="appVersion")
    version = AppVersion.objects.select_for_update().get(pk=version.pk)  # publishing waits for the upload
    return gateway.provider_configuration_upload(app_code=application.code, app_version=version.version,
                                                 data=data, mode=mode, actor=actor,
                                                 activate=not version.is_published)


def provider_configuration_read(*, version: AppVersion, with_history: bool = False) -> dict:
    """The active configuration of the developer's app version (key masked); 404 when there is none."""
    result = None
    if _uses_communications(version):
        result = gateway.provider_configuration_get(app_code=version.application.code, app_version=version.version,
                                                    with_history=with_history)
    if result is None:
        raise NotFoundError(f"Для версии {version.version} конфигурация провайдера не загружена.",
                            code="configuration_not_found", field="appVersion")
    return result
