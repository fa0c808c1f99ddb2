"""Which tenants are developers' sandboxes, and the sandbox chat limit on chats the public API creates.

A sandbox is an ordinary tenant id (communications/services/sandbox.py); which ids are sandboxes is
marketplace's knowledge (`ProviderCompany.sandbox_tenant_id`). This module is the one place communications
reads it, through the app registry (no import of marketplace code): for the chat limit, and to keep
sandboxes out of the admin's lists and counts.
"""

import uuid

from django.apps import apps
from django.conf import settings

from communications.models import Chat
from config.errors import ConflictError


def sandbox_tenants():
    """The developers' sandbox tenant ids, as a subquery (`tenant_id__in=sandbox_tenants()`)."""
    return apps.get_model("marketplace", "ProviderCompany").objects.values("sandbox_tenant_id")


def sandbox_chat_room(*, tenant_id: uuid.UUID) -> int | None:
    """How many more chats this tenant may get: None for a real tenant (no limit); for a sandbox,
    SANDBOX_MAX_CHATS minus its chats. Locks the sandbox's company row (the operator actions of
    marketplace/services/sandbox.py take the same lock), so concurrent creates cannot pass the limit together.
    Call inside a transaction."""
    company = (apps.get_model("marketplace", "ProviderCompany").objects.select_for_update()
               .filter(sandbox_tenant_id=tenant_id).values_list("pk", flat=True).first())
    if company is None:
        return None
    return max(settings.SANDBOX_MAX_CHATS - Chat.objects.filter(tenant_id=tenant_id).count(), 0)


def sandbox_chat_limit_error(field_path: tuple[str, ...]) -> ConflictError:
    limit = settings.SANDBOX_MAX_CHATS
    message = f"Лимит песочницы: не больше {limit} чатов. Сбросьте песочницу (POST sandbox/reset)."
    fields: dict | list = [message]
    for key in reversed(field_path):
        fields = {key: fields}
    return ConflictError(message, code="sandbox_chat_limit", fields=fields, extra={"limit": limit})
