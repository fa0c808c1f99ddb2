"""Moderation, testing and publishing of app versions (publish rules: `selectors.app_version_unmet_conditions`)."""

import logging

from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, ForbiddenError
from marketplace import gateway, selectors
from marketplace.models import (
    AppVersion,
)
from marketplace.selectors import app_version_has_scope, app_version_unmet_conditions
from marketplace.services.common import COMMUNICATIONS, Action, decision_record, uses_communications

logger = logging.getLogger(__name__)


# --- moderation, testing, publishing ------------------------------------------------------------

@transaction.atomic
def app_version_submit(*, version: AppVersion, actor) -> AppVersion:
    if version.moderation_status not in (AppVersion.Moderation.DRAFT, AppVersion.Moderation.REJECTED):
        raise ConflictError("Версия уже на модерации или одобрена.", code="invalid_moderation_state")
    version.moderation_status = AppVersion.Moderation.PENDING
    version.save(update_fields=["moderation_status"])
    decision_record(version=version, action=Action.SUBMITTED, actor=actor)
    return version


@transaction.atomic
def app_version_approve(*, version: AppVersion, actor) -> AppVersion:
    version.moderation_status, version.rejection_reason = AppVersion.Moderation.APPROVED, ""
    version.save(update_fields=["moderation_status", "rejection_reason"])
    decision_record(version=version, action=Action.APPROVED, actor=actor)
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
    decision_record(version=version, action=Action.REJECTED, actor=actor, reason=reason)
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
    decision_record(version=version, action=action, actor=actor, reason=reason)
    return version


def _pending_configuration_activate(*, version: AppVersion, action: str) -> str | None:
    """The SberCRM mark activates a pending configuration, but only on a passed run: no override."""
    if not uses_communications(version):
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
    latest = selectors.app_version_test_run_latest(version=version)
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
    decision_record(version=version, action=Action.TEST_RUN_STARTED, actor=actor,
            reason=f"Прогон #{run['id']} (конфигурация {run['configurationVersion']}).")
    return run


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
    decision_record(version=version, action=Action.PUBLISHED, actor=actor)
    return version


