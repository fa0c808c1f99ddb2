"""Developer self-service sign-up: the user, the developer company (with its sandbox tenant), email confirmation.

The user is created inactive and becomes active when the emailed link is confirmed; the link is
single-use and expires after `SIGNUP_CONFIRMATION_HOURS`. Only the token's SHA-256 is stored.
Blocking a company revokes its members' JWTs at once (config/auth.py also refuses them afterwards).
"""

import hashlib
import logging
import secrets
from datetime import timedelta
from smtplib import SMTPException

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.auth import token_versions_bump
from config.errors import ApplicationError, ConflictError
from marketplace.models import ProviderCompany, SignupConfirmation

logger = logging.getLogger(__name__)

SUBJECT = "SberCRM: подтвердите регистрацию разработчика"
BODY = (
    "Здравствуйте!\n\n"
    "Вы зарегистрировали компанию «{company}» на портале разработчиков SberCRM.\n"
    "Чтобы подтвердить адрес и включить учётную запись, откройте ссылку (действует {hours} ч, один раз):\n\n"
    "{link}\n\n"
    "Если вы не регистрировались, просто проигнорируйте это письмо.\n"
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _forget_expired_signup(email: str) -> None:
    """A sign-up never confirmed before its link expired frees its email and company name."""
    now = timezone.now()
    stale = (get_user_model().objects.filter(Q(username__iexact=email) | Q(email__iexact=email), is_active=False,
                                             signup_confirmations__isnull=False)
             .exclude(signup_confirmations__confirmed_at__isnull=False)
             .exclude(signup_confirmations__expires_at__gt=now).distinct())
    for user in stale:
        ProviderCompany.objects.filter(members=user, self_signed_up=True, applications__isnull=True).delete()
        user.delete()


@transaction.atomic
def developer_signup(*, email: str, password: str, company_name: str, confirm_url: str) -> ProviderCompany:
    """Create the inactive user and the company, and email the confirmation link.

    `confirm_url` gets `?token=...` appended. If the email cannot be sent nothing is kept (503).
    """
    email = normalize_email(email)
    users = get_user_model().objects
    _forget_expired_signup(email)
    if users.filter(username__iexact=email).exists() or users.filter(email__iexact=email).exists():
        raise ConflictError("Этот адрес уже зарегистрирован. Войдите или восстановите доступ через поддержку.",
                            code="email_taken", field="email")
    if ProviderCompany.objects.filter(name__iexact=company_name).exists():
        raise ConflictError("Компания с таким названием уже зарегистрирована.", code="company_name_taken",
                            field="companyName")
    user = users.create_user(username=email, email=email, password=password, is_active=False)
    company = ProviderCompany.objects.create(name=company_name, self_signed_up=True)
    company.members.add(user)
    token = secrets.token_urlsafe(32)
    hours = settings.SIGNUP_CONFIRMATION_HOURS
    SignupConfirmation.objects.create(user=user, company=company, token_hash=_hash(token),
                                      expires_at=timezone.now() + timedelta(hours=hours))
    link = f"{confirm_url}?token={token}"
    try:
        send_mail(SUBJECT, BODY.format(company=company_name, hours=hours, link=link), None, [email])
    except (SMTPException, OSError) as exc:
        logger.warning("sign-up confirmation email not sent (%s): sign-up rolled back", exc.__class__.__name__)
        raise ApplicationError("Не удалось отправить письмо с подтверждением. Повторите попытку позже.",
                               code="email_unavailable", field="email", status_code=503) from exc
    logger.info("developer sign-up: company %s created, confirmation sent", company.pk)
    return company


@transaction.atomic
def developer_signup_confirm(*, token: str) -> SignupConfirmation:
    """Activate the user of this token. A token works once, until it expires."""
    confirmation = (SignupConfirmation.objects.select_for_update().select_related("user", "company")
                    .filter(token_hash=_hash(token)).first())
    if confirmation is None:
        raise ApplicationError("Ссылка подтверждения недействительна.", code="token_invalid", field="token")
    if confirmation.confirmed_at is not None:
        raise ConflictError("Адрес уже подтверждён по этой ссылке: войдите с паролем.", code="token_used",
                            field="token")
    if confirmation.expires_at <= timezone.now():
        raise ApplicationError("Срок действия ссылки истёк. Зарегистрируйтесь заново или обратитесь в поддержку.",
                               code="token_expired", field="token", status_code=410)
    confirmation.confirmed_at = timezone.now()
    confirmation.save(update_fields=["confirmed_at"])
    user = confirmation.user
    user.is_active = True
    user.save(update_fields=["is_active"])
    return confirmation


@transaction.atomic
def company_block(*, company: ProviderCompany, blocked: bool = True) -> ProviderCompany:
    """Block (or unblock) a developer company. Blocking kills its members' JWTs at once."""
    company = ProviderCompany.objects.select_for_update().get(pk=company.pk)
    if company.is_blocked == blocked:
        return company
    company.is_blocked = blocked
    company.blocked_at = timezone.now() if blocked else None
    company.save(update_fields=["is_blocked", "blocked_at"])
    if blocked:
        token_versions_bump(company.members.values_list("pk", flat=True))
    logger.info("developer company %s %s", company.pk, "blocked" if blocked else "unblocked")
    return company
