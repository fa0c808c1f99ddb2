"""Integration tokens: the client token a tenant hands to its provider.

A token is a signed JWT (HS256, `COMMUNICATIONS_TOKEN_SIGNING_KEY`) with the claims
`tenant`, `provider` (code) and `jti`. Only the `jti` is stored; the value is returned
once by `integration_token_issue` and can't be recovered afterwards.

The two lifecycle events each go through exactly one service:
`integration_token_activated` and `integration_token_deactivated`.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from communications.models import IntegrationToken, Provider, TenantConfiguration
from communications.services.conversations import account_main_activate
from communications.services.sync import integration_activate, integration_farewell
from config.errors import ApplicationError, ConflictError

logger = logging.getLogger(__name__)

TOKEN_ISSUER = "sbercrm-communications"
TOKEN_AUDIENCE = "sbercrm-communications-public-api"
TOKEN_TYPE = "integration"


@dataclass(frozen=True)
class IssuedToken:
    token: IntegrationToken
    value: str  # the JWT; show it once, never store or log it


def integration_token_encode(*, token: IntegrationToken) -> str:
    payload = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "typ": TOKEN_TYPE,
        "jti": str(token.jti),
        "tenant": str(token.tenant_id),
        "provider": token.provider.code,
        "iat": int(token.issued_at.timestamp()),
    }
    if token.expires_at:
        payload["exp"] = int(token.expires_at.timestamp())
    return jwt.encode(payload, settings.COMMUNICATIONS_TOKEN_SIGNING_KEY, algorithm="HS256")


def integration_token_decode(value: str) -> dict:
    """Verify signature, audience, issuer and expiry. Raises `jwt.InvalidTokenError`."""
    claims = jwt.decode(
        value,
        settings.COMMUNICATIONS_TOKEN_SIGNING_KEY,
        algorithms=["HS256"],
        audience=TOKEN_AUDIENCE,
        issuer=TOKEN_ISSUER,
        options={"require": ["jti", "iat", "aud", "iss"]},
    )
    if claims.get("typ") != TOKEN_TYPE or not claims.get("tenant") or not claims.get("provider"):
        raise jwt.InvalidTokenError("not an integration token")
    return claims


@transaction.atomic
def integration_token_issue(*, tenant_id: uuid.UUID, provider: Provider, lifetime: timedelta | None = None,
                            issued_by: str = "") -> IssuedToken:
    """Issue the tenant's token for `provider` and fire the activation event.

    The tenant must have an active configuration with an active provider. An already
    active token of the same tenant+provider is replaced (status `replaced`): the
    integration carries on, so this is not a deactivation event.
    """
    if not provider.is_active:
        raise ConflictError("Провайдер отключён.", code="provider_inactive", field="providerCode")
    if not TenantConfiguration.objects.filter(tenant_id=tenant_id, provider=provider,
                                              status=TenantConfiguration.Status.ACTIVE).exists():
        raise ConflictError("У тенанта нет активной конфигурации этого провайдера: приложение не установлено.",
                            code="tenant_not_configured", field="tenantId")
    now = timezone.now()
    lifetime = lifetime if lifetime is not None else timedelta(days=settings.COMMUNICATIONS_TOKEN_LIFETIME_DAYS)
    if lifetime <= timedelta(0):
        raise ApplicationError("Срок действия должен быть положительным.", field="lifetimeDays")
    IntegrationToken.objects.select_for_update().filter(
        tenant_id=tenant_id, provider=provider, status=IntegrationToken.Status.ACTIVE,
    ).update(status=IntegrationToken.Status.REPLACED, deactivated_at=now)
    try:
        with transaction.atomic():
            token = IntegrationToken.objects.create(tenant_id=tenant_id, provider=provider, issued_by=issued_by[:150],
                                                    expires_at=now + lifetime)
    except IntegrityError:
        raise ConflictError("Токен для этого тенанта уже выпускается, повторите запрос.", code="token_conflict")
    logger.info("integration token issued jti=%s tenant=%s provider=%s", token.jti, tenant_id, provider.code)
    integration_token_activated(token=token)
    return IssuedToken(token=token, value=integration_token_encode(token=token))


@transaction.atomic
def integration_token_deactivate(*, token: IntegrationToken) -> IntegrationToken:
    """Deactivate at once (the next API call with it gets 401). Idempotent."""
    # Only the token row (`of`): locking the provider too, after the token, would break the lock order.
    token = IntegrationToken.objects.select_for_update(of=("self",)).select_related("provider").get(pk=token.pk)
    if token.status != IntegrationToken.Status.ACTIVE:
        return token
    token.status = IntegrationToken.Status.DEACTIVATED
    token.deactivated_at = timezone.now()
    token.save(update_fields=["status", "deactivated_at"])
    logger.info("integration token deactivated jti=%s tenant=%s provider=%s",
                token.jti, token.tenant_id, token.provider.code)
    integration_token_deactivated(token=token)
    return token


def integration_token_activated(*, token: IntegrationToken) -> None:
    """THE activation event of a tenant's integration with a provider (spec: «Активация токена»).

    Runs inside the issuing transaction: create or re-activate the tenant's main account
    for the provider, then (services/sync.py) queue `getChannels` (a child account per
    channel it returns), prepare the initial sync when `getMessageHistory` is configured
    and queue `setWebhook` when configured — outbox rows written in this same transaction.
    """
    account_main_activate(tenant_id=token.tenant_id, provider=token.provider)
    integration_activate(tenant_id=token.tenant_id, provider=token.provider)


def integration_token_deactivated(*, token: IntegrationToken) -> None:
    """THE deactivation event (spec: «Деактивация токена»).

    Runs inside the deactivating transaction, after the token row was marked
    deactivated (that row is the recorded state: public API calls get 401 from the next
    request on). Accounts stay as they are; only the app being disabled in the
    marketplace deactivates them. Side effects (services/sync.py): pending deliveries and
    the initial sync are cancelled, `disconnect` (and `deleteWebhook`) is queued. New
    operator actions are refused from now on (no active token, services/operator.py).
    """
    logger.info("integration deactivated tenant=%s provider=%s", token.tenant_id, token.provider.code)
    tenant_configuration = (TenantConfiguration.objects.select_related("configuration", "provider")
                            .filter(tenant_id=token.tenant_id, provider=token.provider,
                                    status=TenantConfiguration.Status.ACTIVE).first())
    if tenant_configuration is not None:  # a disabled app has already said goodbye
        integration_farewell(tenant_configuration=tenant_configuration, reason="token_deactivated")
