"""Apps, versions and their scopes (the developer API and the admin)."""

import logging

from django.db import transaction

from config.errors import ApplicationError, ConflictError
from marketplace import gateway
from marketplace.models import (
    Application,
    AppVersion,
    AppVersionScope,
    ProviderCompany,
    Scope,
)
from marketplace.selectors import app_version_has_scope
from marketplace.services.common import COMMUNICATIONS

logger = logging.getLogger(__name__)


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


