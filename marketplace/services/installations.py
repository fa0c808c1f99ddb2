"""Tenant installations: install, upgrade, uninstall (the marketplace's internal API)."""

import logging

from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError
from marketplace import gateway
from marketplace.models import (
    Application,
    AppVersion,
    Installation,
)
from marketplace.selectors import installation_get
from marketplace.services.common import uses_communications

logger = logging.getLogger(__name__)


# --- tenant installations -----------------------------------------------------------------------

def _installable(version: AppVersion) -> None:
    if not version.is_published:
        raise ApplicationError("Можно установить только опубликованную версию.", code="version_not_published",
                               field="appVersion")


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
    if uses_communications(version):
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
    had_communications = uses_communications(current.version)
    current.version = version
    current.save(update_fields=["version", "updated_at"])
    code = version.application.code
    if had_communications:
        gateway.tenant_configuration_upgrade(tenant_id=tenant_id, app_code=code, app_version=version.version)
    elif uses_communications(version):  # the scope was first enabled in the new version
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
    if uses_communications(current.version):
        gateway.tenant_configuration_delete(tenant_id=tenant_id, app_code=application.code)
    return current


