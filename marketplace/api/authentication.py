"""The developer API's 401 says what is wrong with the JWT: expired, wrong kind, or damaged."""

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import UntypedToken


def token_error(request) -> exceptions.AuthenticationFailed:
    """The clear error for a token simplejwt refused (`InvalidToken`), named by its cause."""
    authentication = JWTAuthentication()
    header = authentication.get_header(request)
    raw_token = authentication.get_raw_token(header) if header else None
    try:
        UntypedToken(raw_token or b"")  # signature and expiry only, any kind
    except ExpiredTokenError:
        return exceptions.AuthenticationFailed(
            "Срок действия токена истёк: получите новый access-токен через POST /api/auth/token/refresh/.",
            code="token_expired")
    except TokenError:
        return exceptions.AuthenticationFailed(
            "Токен повреждён или выпущен не SberCRM: получите новый через POST /api/auth/token/.",
            code="token_invalid")
    return exceptions.AuthenticationFailed(
        "Это не access-токен (например, refresh-токен): в заголовке Authorization передайте access из "
        "POST /api/auth/token/.", code="token_wrong_type")
