"""The provider side of an app: its signing secret and its provider configurations (developer API)."""

import logging

from django.db import transaction

from config.errors import ApplicationError, ConflictError
from marketplace import gateway
from marketplace.models import (
    Application,
    AppVersion,
    AppVersionScope,
)
from marketplace.services.common import COMMUNICATIONS, uses_communications

logger = logging.getLogger(__name__)


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
    if not uses_communications(version):
        raise ApplicationError("В этой версии приложения не включён скоуп «Коммуникации».",
                               code="communications_scope_disabled", field="appVersion")
    version = AppVersion.objects.select_for_update().get(pk=version.pk)  # publishing waits for the upload
    return gateway.provider_configuration_upload(app_code=application.code, app_version=version.version,
                                                 data=data, mode=mode, actor=actor,
                                                 activate=not version.is_published)
