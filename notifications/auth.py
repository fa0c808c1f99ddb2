"""User tokens: how a recipient's own app authenticates to the notification service.

An internal service (which already authenticated the person) asks
`POST /notifications/recipients/{id}/token` for a JWT with `token_type=recipient`
and claim `recipient_id`, and hands it to the mobile app. The token is signed with
SIMPLE_JWT's key but is not a Django-user token: JWTAuthentication rejects it
elsewhere, and it only opens the recipient's own subscribe/binding-links calls.
"""

from datetime import timedelta

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token

RECIPIENT_CLAIM = "recipient_id"


class RecipientToken(Token):
    token_type = "recipient"

    @property
    def lifetime(self):  # read at call time so tests and env can change it
        return timedelta(minutes=settings.NOTIFICATIONS_USER_TOKEN_MINUTES)

    @classmethod
    def for_recipient(cls, recipient) -> "RecipientToken":
        token = cls()
        token[RECIPIENT_CLAIM] = str(recipient.pk)
        return token

    @property
    def throttle_key(self) -> str:
        return f"recipient:{self[RECIPIENT_CLAIM]}"


class RecipientPrincipal:
    """request.user for a recipient token. Not a service account, not a Django user."""

    is_authenticated = True
    is_active = True
    is_staff = is_superuser = False
    _service_groups_cache = frozenset()  # read by config.api.permissions.user_in_group

    def __init__(self, recipient_id: str):
        self.recipient_id = recipient_id
        self.pk = None

    def __str__(self):
        return f"recipient:{self.recipient_id}"


class RecipientTokenAuthentication(JWTAuthentication):
    """Accepts a Bearer recipient token; leaves any other token to the next authenticator."""

    def authenticate(self, request):
        header = self.get_header(request)
        raw = self.get_raw_token(header) if header is not None else None
        if raw is None:
            return None
        try:
            token = RecipientToken(raw)
        except TokenError:
            return None
        return RecipientPrincipal(token[RECIPIENT_CLAIM]), token


def request_recipient_id(request) -> str | None:
    user = getattr(request, "user", None)
    return user.recipient_id if isinstance(user, RecipientPrincipal) else None


class RecipientTokenScheme(OpenApiAuthenticationExtension):
    """OpenAPI: the recipient token is a Bearer JWT like the service tokens."""

    target_class = "notifications.auth.RecipientTokenAuthentication"
    name = "recipientToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer",
                                                   bearer_format="JWT")
