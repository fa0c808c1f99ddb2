"""A developer company's sandbox: its own tenant where any of its versions can be installed and tried.

Everything goes through the production services (installations, integration tokens, operator
actions, the delivery engine, signatures); this module adds the sandbox rules: any version of the
company's own apps (published or not), the limits, and reset. See docs/developer-portal.md.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError
from marketplace import gateway
from marketplace.models import Application, AppVersion, Installation, ProviderCompany
from marketplace.selectors import app_version_has_scope, installation_get
from marketplace.services.installations import installation_uninstall

COMMUNICATIONS = "communications"


def _day_start() -> datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def limits() -> dict:
    return {"chats": settings.SANDBOX_MAX_CHATS, "messagesPerDay": settings.SANDBOX_MAX_MESSAGES_PER_DAY,
            "tokensPerDay": settings.SANDBOX_MAX_TOKENS_PER_DAY}


def _over_daily_limit(code: str, message: str, limit: int) -> ApplicationError:
    retry_after = int((_day_start() + timedelta(days=1) - timezone.now()).total_seconds()) + 1
    return ApplicationError(message, code=code, status_code=429, extra={"limit": limit, "retry_after": retry_after})


def sandbox_state(*, company: ProviderCompany) -> dict:
    tenant_id = company.sandbox_tenant_id
    installations = (Installation.objects.filter(tenant_id=tenant_id).select_related("application", "version")
                     .order_by("application__code"))
    return {
        "companyId": company.pk,
        "tenantId": str(tenant_id),
        "installations": [{"appCode": i.application.code, "appVersion": i.version.version, "status": i.status,
                           "published": i.version.is_published} for i in installations],
        "tokens": gateway.sandbox_token_list(tenant_id=tenant_id),
        "usage": gateway.sandbox_usage(tenant_id=tenant_id, since=_day_start()),
        "limits": limits(),
    }


@transaction.atomic
def sandbox_install(*, version: AppVersion) -> Installation:
    """Install any version of the company's own app in its sandbox; another installed version is replaced."""
    application = version.application
    tenant_id = application.company.sandbox_tenant_id
    if not app_version_has_scope(version=version, code=COMMUNICATIONS):
        raise ConflictError("У версии не включён скоуп «Коммуникации»: в песочнице нечего пробовать.",
                            code="communications_scope_missing", field="appVersion")
    current = installation_get(tenant_id=tenant_id, application=application)
    if current and current.status == Installation.Status.INSTALLED:
        if current.version_id == version.pk:
            return current
        installation_uninstall(tenant_id=tenant_id, application=application)  # farewell, as in production
        current.refresh_from_db()
    if current is None:
        current = Installation(tenant_id=tenant_id, application=application)
    current.version, current.status, current.disabled_at = version, Installation.Status.INSTALLED, None
    current.save()
    gateway.tenant_configuration_create(tenant_id=tenant_id, app_code=application.code, app_version=version.version)
    return current


@transaction.atomic
def sandbox_token_issue(*, application: Application, actor) -> dict:
    tenant_id = application.company.sandbox_tenant_id
    ProviderCompany.objects.select_for_update().get(pk=application.company_id)  # one count-and-issue at a time
    limit = settings.SANDBOX_MAX_TOKENS_PER_DAY
    if gateway.sandbox_usage(tenant_id=tenant_id, since=_day_start())["tokensToday"] >= limit:
        raise _over_daily_limit("sandbox_token_limit", f"Лимит песочницы: не больше {limit} токенов в сутки (UTC).",
                                limit)
    return gateway.sandbox_token_issue(tenant_id=tenant_id, provider_code=application.code,
                                       issued_by=f"sandbox:{actor.get_username()}"[:150])


def sandbox_token_revoke(*, company: ProviderCompany, token_id) -> dict:
    return gateway.sandbox_token_revoke(tenant_id=company.sandbox_tenant_id, token_id=token_id)


@transaction.atomic
def sandbox_operator(*, application: Application, action: str, **kwargs) -> dict:
    """One operator action (send, edit, status, read, broadcast) in the app's sandbox, within the limits."""
    tenant_id = application.company.sandbox_tenant_id
    ProviderCompany.objects.select_for_update().get(pk=application.company_id)
    usage = gateway.sandbox_usage(tenant_id=tenant_id, since=_day_start())
    if usage["chats"] > settings.SANDBOX_MAX_CHATS:
        raise ConflictError(f"Лимит песочницы: не больше {settings.SANDBOX_MAX_CHATS} чатов. Сбросьте песочницу.",
                            code="sandbox_chat_limit", extra={"limit": settings.SANDBOX_MAX_CHATS})
    new_messages = len(kwargs.get("chat_ids", ())) if action == "broadcast" else int(action == "send")
    limit = settings.SANDBOX_MAX_MESSAGES_PER_DAY
    if new_messages and usage["messagesToday"] + new_messages > limit:
        raise _over_daily_limit("sandbox_message_limit",
                                f"Лимит песочницы: не больше {limit} исходящих сообщений в сутки (UTC).", limit)
    handler = {"send": gateway.operator_send, "edit": gateway.operator_edit, "status": gateway.operator_set_status,
               "read": gateway.operator_mark_read, "broadcast": gateway.operator_broadcast}[action]
    return handler(tenant_id=tenant_id, app_code=application.code, **kwargs)


@transaction.atomic
def sandbox_reset(*, company: ProviderCompany) -> dict:
    """Uninstall every app (the provider gets `disconnect`, as in production), revoke the tokens, and
    delete the sandbox's chats and messages. The delivery log keeps the calls already made."""
    company = ProviderCompany.objects.select_for_update().get(pk=company.pk)
    tenant_id = company.sandbox_tenant_id
    installed = Installation.objects.filter(tenant_id=tenant_id, status=Installation.Status.INSTALLED)
    for installation in installed.select_related("application"):
        installation_uninstall(tenant_id=tenant_id, application=installation.application)
    wiped = gateway.sandbox_conversations_wipe(tenant_id=tenant_id)
    return {**sandbox_state(company=company), "deletedChats": wiped["deleted"]}
