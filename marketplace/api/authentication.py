"""JWT authentication of the developer API whose 401 says what is wrong with the token."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.tokens import UntypedToken


class DeveloperJWTAuthentication(JWTAuthentication):
    """simplejwt's checks, with one clear error per cause: expired, wrong kind (refresh), or damaged."""

    def get_validated_token(self, raw_token):
        try:
            return super().get_validated_token(raw_token)
        except InvalidToken:
            pass
        try:
            UntypedToken(raw_token)  # signature and expiry only, any kind
        except ExpiredTokenError:
            raise exceptions.AuthenticationFailed(
                "Срок действия токена истёк: получите новый access-токен через POST /api/auth/token/refresh/.",
                code="token_expired")
        except TokenError:
            raise exceptions.AuthenticationFailed(
                "Токен повреждён или выпущен не SberCRM: получите новый через POST /api/auth/token/.",
                code="token_invalid")
        raise exceptions.AuthenticationFailed(
            "Это не access-токен (например, refresh-токен): в заголовке Authorization передайте access из "
            "POST /api/auth/token/.", code="token_wrong_type")


class DeveloperJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme stays simplejwt's `jwtAuth`."""

    target_class = "marketplace.api.authentication.DeveloperJWTAuthentication"
