"""Authentication of provider calls to the public API.

`IntegrationTokenAuthentication` is a plain DRF authentication class, so Basic Auth and
OAuth 2.0 (later releases) are more classes in the views' `authentication_classes`.
Whatever the scheme, the result is the same pair: `request.user` is an
`IntegrationClient` (tenant + provider) and `request.auth` is the `IntegrationToken`
(its `throttle_key` drives the per-principal rate limit).
"""

from dataclasses import dataclass

import jwt
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from communications.models import IntegrationToken
from communications.selectors.conversations import integration_token_get_for_request
from communications.services.tokens import integration_token_decode


@dataclass(frozen=True)
class IntegrationClient:
    """The caller of the public API: a provider acting for one tenant."""

    token: IntegrationToken
    is_authenticated = True
    is_active = True
    is_anonymous = False
    pk = None

    @property
    def tenant_id(self):
        return self.token.tenant_id

    @property
    def provider(self):
        return self.token.provider

    def __str__(self) -> str:
        return f"{self.provider.code}:{self.tenant_id}"


def _fail(message: str, code: str):
    return exceptions.AuthenticationFailed(message, code=code)


class IntegrationTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <integration JWT>`, verified against the database on every request.

    The token must be signed by us, not expired, still `active` in the database; the tenant
    must still have an active configuration with the provider, and the provider must be
    active. So a deactivation takes effect on the very next request.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise _fail("Заголовок Authorization должен иметь вид «Bearer <токен>».", "token_malformed")
        try:
            claims = integration_token_decode(header[1].decode())
        except jwt.ExpiredSignatureError:
            raise _fail("Срок действия токена истёк.", "token_expired")
        except (jwt.InvalidTokenError, UnicodeDecodeError):
            raise _fail("Недействительный токен.", "token_invalid")

        token = integration_token_get_for_request(jti=claims["jti"])
        if token is None or str(token.tenant_id) != claims["tenant"] or token.provider.code != claims["provider"]:
            raise _fail("Недействительный токен.", "token_invalid")
        if token.status != IntegrationToken.Status.ACTIVE:
            raise _fail("Токен деактивирован.", "token_inactive")
        if token.expires_at and token.expires_at <= timezone.now():
            raise _fail("Срок действия токена истёк.", "token_expired")
        if not token.provider.is_active:
            raise _fail("Провайдер отключён.", "provider_inactive")
        if not token.has_active_configuration:
            raise _fail("Интеграция тенанта с провайдером отключена.", "integration_disabled")
        return IntegrationClient(token=token), token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class IntegrationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "communications.authentication.IntegrationTokenAuthentication"
    name = "integrationToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Токен клиента (тенанта), выпущенный SberCRM при активации интеграции с провайдером "
                           "и переданный провайдеру. Проверяется в базе при каждом запросе.",
        }
