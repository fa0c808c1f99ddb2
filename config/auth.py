"""JWT revocation through a token-version claim.

Every JWT from `/api/auth/token/` (and its refreshes) carries `tv`, the user's token version
(`platform.TokenVersion`; a token without the claim counts as version 0). The per-request user
lookup of JWT authentication fetches the version in the same query and refuses a token whose
`tv` is behind it (401 `token_revoked`); the refresh endpoint refuses such a refresh token.

The version moves on when the user's password changes (`set_password` + save), the user is
saved inactive, or leaves a group (remove, clear, `set`, or the group is deleted). A token issued
before any of these is dead at once, and stays dead when the change is undone.
"""

import logging
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.signals import m2m_changed, post_save, pre_delete
from django.dispatch import receiver
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow

from config.models import TokenVersion
from config.sql import MARK32, compiled

logger = logging.getLogger(__name__)

CLAIM = "tv"
REVOKED = "Токен отозван: пароль, активность или группы пользователя изменились. Получите новый."
BLOCKED = "Компания-разработчик заблокирована модератором: доступ к API закрыт."


def token_version(user) -> int:
    try:
        return user.token_version.version
    except TokenVersion.DoesNotExist:
        return 0


def token_versions_bump(user_ids) -> None:
    """Move the token version of these users on: their JWTs issued until now are dead."""
    for user_id in set(user_ids):
        with transaction.atomic():
            if not TokenVersion.objects.filter(user_id=user_id).update(version=F("version") + 1):
                try:
                    with transaction.atomic():
                        TokenVersion.objects.create(user_id=user_id, version=1)
                except IntegrityError:  # a concurrent bump created it
                    TokenVersion.objects.filter(user_id=user_id).update(version=F("version") + 1)
        logger.info("JWTs of user %s revoked", user_id)


def tokens_for_user(user) -> RefreshToken:
    """A refresh token (its `.access_token` too) carrying the user's token version."""
    refresh = RefreshToken.for_user(user)
    refresh[CLAIM] = token_version(user)
    return refresh


def _check(token, user) -> None:
    if token.get(CLAIM, 0) != token_version(user):
        raise AuthenticationFailed(REVOKED, code="token_revoked")


def _with_company_block(queryset):
    """Annotate whether the user's developer companies are all blocked (marketplace), in the same query."""
    memberships = get_user_model().provider_companies.through.objects.filter(user_id=OuterRef("pk"))
    return queryset.annotate(blocked_company=Exists(memberships.filter(providercompany__is_blocked=True)),
                             open_company=Exists(memberships.filter(providercompany__is_blocked=False)))


def _with_service_groups(queryset):
    """Annotate membership of each service group (config.api.permissions), in the same query."""
    from config.api.permissions import SERVICE_GROUPS

    through = get_user_model().groups.through.objects.filter(user_id=OuterRef("pk"))
    return queryset.annotate(**{f"_in_group_{i}": Exists(through.filter(group__name=name))
                                for i, name in enumerate(SERVICE_GROUPS)})


def _service_groups_remember(user) -> None:
    from config.api.permissions import SERVICE_GROUPS

    user._service_groups_cache = {name for i, name in enumerate(SERVICE_GROUPS) if getattr(user, f"_in_group_{i}")}


def _check_company(user) -> None:
    if getattr(user, "blocked_company", False) and not getattr(user, "open_company", True):
        raise AuthenticationFailed(BLOCKED, code="company_blocked")


def _integer_id(value) -> int | None:
    """The claim as a primary key (simplejwt writes it as a string), or None: then the ORM reads it as before."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _user_queryset(user_id):
    """The request's user with its token version, company block and service groups: one query."""
    users = get_user_model().objects.select_related("token_version")
    return _with_service_groups(_with_company_block(users)).filter(**{api_settings.USER_ID_FIELD: user_id})


# Access tokens already checked (signature, claims) by this process, by the raw token. simplejwt itself keeps its
# key and algorithm from start-up (`rest_framework_simplejwt.state`), so a check holds for the process's life.
_checked: dict[bytes, object] = {}
CHECKED_MAX = 1024


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication; its one user query also loads the token version to check, the company
    block and the service groups the permissions ask about."""

    def get_validated_token(self, raw_token):
        """simplejwt's check, done once per token and process (issue 19: the signature and the decoding cost ~0.3 ms
        a request, the same for every request of a client): a token seen before is only checked for expiry again.
        Revocation is unaffected: `get_user` reads the token version on every request."""
        token = _checked.get(raw_token)
        if token is not None:
            try:
                token.check_exp(current_time=aware_utcnow())
                return token
            except TokenError:
                _checked.pop(raw_token, None)  # expired: simplejwt's own check gives the answer below
        token = super().get_validated_token(raw_token)
        if len(_checked) >= CHECKED_MAX:
            _checked.clear()
        _checked[raw_token] = token
        return token

    def get_user(self, validated_token):
        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        if user_id is None:
            raise InvalidToken("В токене нет идентификатора пользователя.")
        key = _integer_id(user_id) if api_settings.USER_ID_FIELD == "id" else None
        if key is not None:
            # The query (five subqueries) compiled once per thread: building it cost more CPU than running it.
            user = compiled(("jwt-user",), partial(_user_queryset, MARK32), MARK32).get(key)
        else:
            user = _user_queryset(user_id).first()
        if user is None:
            raise AuthenticationFailed("Пользователь не найден.", code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("Пользователь деактивирован.", code="user_inactive")
        _check(validated_token, user)
        _check_company(user)
        _service_groups_remember(user)
        return user


class VersionedTokenObtainPairSerializer(TokenObtainPairSerializer):
    class Meta:
        ref_name = "TokenObtainPair"  # the OpenAPI component keeps simplejwt's name

    @classmethod
    def get_token(cls, user):
        return tokens_for_user(user)

    def validate(self, attrs):
        data = super().validate(attrs)
        _check_company(_with_company_block(get_user_model().objects).get(pk=self.user.pk))
        return data


class VersionedTokenRefreshSerializer(TokenRefreshSerializer):
    class Meta:
        ref_name = "TokenRefresh"

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = (get_user_model().objects.select_related("token_version")
                .filter(**{api_settings.USER_ID_FIELD: refresh.get(api_settings.USER_ID_CLAIM)}).first())
        if user is not None:
            _check(refresh, user)
        return super().validate(attrs)


# --- what moves the version on ------------------------------------------------------------------

User = get_user_model()


@receiver(post_save, sender=User, dispatch_uid="token_version_on_user_save")
def _user_saved(sender, instance, created, **kwargs):
    # `_password` is set by set_password() until save() has run the password validators.
    if not created and (getattr(instance, "_password", None) is not None or not instance.is_active):
        token_versions_bump([instance.pk])


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="token_version_on_group_leave")
def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action == "post_remove":
        token_versions_bump(pk_set if reverse else [instance.pk])
    elif action == "pre_clear":
        if reverse:  # group.user_set.clear()
            token_versions_bump(instance.user_set.values_list("pk", flat=True))
        elif instance.groups.exists():
            token_versions_bump([instance.pk])


@receiver(pre_delete, sender=Group, dispatch_uid="token_version_on_group_delete")
def _group_deleted(sender, instance, **kwargs):
    token_versions_bump(instance.user_set.values_list("pk", flat=True))
