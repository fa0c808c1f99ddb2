"""A developer company's sandbox tenant, seen from the communications module (issue 17).

The sandbox is an ordinary tenant id: installs, tokens, operator actions and provider calls use the
same services, engine and signatures as production. This module only adds what a sandbox needs on
top: usage counts for its limits, the developer's view of its tokens and chats, and wiping its
conversations on reset.
"""

import uuid
from datetime import datetime

from django.db import transaction

from communications.models import Channel, Chat, IntegrationToken, Message, Provider, Webhook
from communications.services.tokens import integration_token_deactivate, integration_token_issue
from config.errors import NotFoundError


def sandbox_usage(*, tenant_id: uuid.UUID, since: datetime) -> dict:
    return {
        "chats": Chat.objects.filter(tenant_id=tenant_id).count(),
        "messagesToday": Message.objects.filter(tenant_id=tenant_id, direction=Message.Direction.OUTGOING,
                                                created_at__gte=since).count(),
        "tokensToday": IntegrationToken.objects.filter(tenant_id=tenant_id, issued_at__gte=since).count(),
    }


def sandbox_token_issue(*, tenant_id: uuid.UUID, provider_code: str, issued_by: str) -> dict:
    provider = Provider.objects.filter(code=provider_code).first()
    if provider is None:
        raise NotFoundError("Приложение не установлено в песочнице.", code="sandbox_not_installed", field="appCode")
    issued = integration_token_issue(tenant_id=tenant_id, provider=provider, issued_by=issued_by)
    return {**_token_view(issued.token), "token": issued.value}


def _token_view(token: IntegrationToken) -> dict:
    return {"id": str(token.jti), "appCode": token.provider.code, "status": token.status,
            "issuedAt": token.issued_at, "expiresAt": token.expires_at}


def sandbox_token_list(*, tenant_id: uuid.UUID) -> list[dict]:
    tokens = IntegrationToken.objects.filter(tenant_id=tenant_id).select_related("provider").order_by("-issued_at")
    return [_token_view(token) for token in tokens[:50]]


def sandbox_token_revoke(*, tenant_id: uuid.UUID, token_id: uuid.UUID) -> dict:
    token = IntegrationToken.objects.filter(tenant_id=tenant_id, jti=token_id).select_related("provider").first()
    if token is None:
        raise NotFoundError("Токен песочницы не найден.", code="token_not_found", field="tokenId")
    return _token_view(integration_token_deactivate(token=token))


def sandbox_chat_list(*, tenant_id: uuid.UUID) -> list[dict]:
    chats = Chat.objects.filter(tenant_id=tenant_id).select_related("provider").order_by("-updated_at")[:200]
    return [{"id": chat.external_id, "appCode": chat.provider.code, "title": chat.title,
             "createdAt": chat.created_at} for chat in chats]


@transaction.atomic
def sandbox_conversations_wipe(*, tenant_id: uuid.UUID) -> dict:
    """Deactivate the sandbox's tokens (the same deactivation event as production) and delete its
    chats, messages, channels and registered webhooks. Calls already queued stay in the delivery log."""
    for token in IntegrationToken.objects.filter(tenant_id=tenant_id, status=IntegrationToken.Status.ACTIVE):
        integration_token_deactivate(token=token)
    chats = Chat.objects.filter(tenant_id=tenant_id)
    count = chats.count()
    chats.delete()
    Channel.objects.filter(tenant_id=tenant_id).delete()
    Webhook.objects.filter(tenant_id=tenant_id).delete()
    return {"deleted": count}
