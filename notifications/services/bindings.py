"""Telegram/VK bindings, their history and the one-time binding tokens.

The bot dialogs (issue 7) call `binding_token_consume` on confirm and
`service_binding_deactivate` when a user blocks the bot.
"""

from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications.errors import BindingTokenInvalid
from notifications.models import BindingService, BindingToken, Recipient, ServiceBinding, ServiceBindingHistory


@transaction.atomic
def service_binding_set(*, recipient: Recipient, service: str, service_user_id: str | int) -> ServiceBinding:
    """Bind the messenger account to the recipient (spec: a repeated binding overwrites).

    Writes a history row (old → new service_user_id) for each change. The account
    can belong to one recipient only: binding it here unbinds it from anyone else
    (with a history row for that recipient too). Re-binding the same account is a
    no-op apart from re-activating it.
    """
    service_user_id = str(service_user_id)
    Recipient.objects.select_for_update().get(pk=recipient.pk)  # serialises concurrent binds of one recipient
    previous_owner = (ServiceBinding.objects.select_for_update()
                      .filter(service=service, service_user_id=service_user_id)
                      .exclude(recipient=recipient).first())
    if previous_owner:
        ServiceBindingHistory.objects.create(recipient_id=previous_owner.recipient_id, service=service,
                                             old_service_user_id=service_user_id, new_service_user_id="")
        previous_owner.delete()
    binding = ServiceBinding.objects.select_for_update().filter(recipient=recipient, service=service).first()
    if binding is None:
        binding = ServiceBinding.objects.create(recipient=recipient, service=service, service_user_id=service_user_id)
        ServiceBindingHistory.objects.create(recipient=recipient, service=service, new_service_user_id=service_user_id)
        return binding
    if binding.service_user_id != service_user_id:
        ServiceBindingHistory.objects.create(recipient=recipient, service=service,
                                             old_service_user_id=binding.service_user_id,
                                             new_service_user_id=service_user_id)
    binding.service_user_id = service_user_id
    binding.is_active, binding.deactivated_reason = True, ""
    binding.save()
    return binding


def service_binding_deactivate(*, service: str, service_user_id: str | int, reason: str) -> bool:
    """Mark the account's binding inactive (bot blocked, chat gone). True when one was active."""
    updated = ServiceBinding.objects.filter(service=service, service_user_id=str(service_user_id),
                                            is_active=True).update(
        is_active=False, deactivated_reason=reason[:255], updated_at=timezone.now())
    return bool(updated)


def binding_token_issue(*, recipient: Recipient) -> BindingToken:
    """A one-time token for the deep links; valid NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES."""
    ttl = timedelta(minutes=settings.NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES)
    return BindingToken.objects.create(recipient=recipient, expires_at=timezone.now() + ttl)


@transaction.atomic
def binding_token_consume(*, token, service: str, service_user_id: str | int) -> ServiceBinding:
    """Use the token once to bind `service_user_id` to the token's recipient.

    Raises BindingTokenInvalid(reason="unknown"|"expired"|"used"). The row lock makes
    two racing confirms produce one binding: the second sees `used`.
    """
    if service not in BindingService.values:
        raise BindingTokenInvalid("Неизвестный сервис привязки.", reason="unknown")
    try:
        row = BindingToken.objects.select_for_update().filter(token=token).first()
    except (ValueError, ValidationError):  # malformed UUID
        row = None
    if row is None:
        raise BindingTokenInvalid("Ссылка для привязки не найдена.", reason="unknown")
    if row.used_at is not None:
        same = row.used_service == service and row.used_service_user_id == str(service_user_id)
        raise BindingTokenInvalid("Ссылка для привязки уже использована.", reason="used", same_account=same)
    if row.expires_at <= timezone.now():
        raise BindingTokenInvalid("Срок действия ссылки для привязки истёк.", reason="expired")
    row.used_at, row.used_service, row.used_service_user_id = timezone.now(), service, str(service_user_id)
    row.save(update_fields=["used_at", "used_service", "used_service_user_id"])
    return service_binding_set(recipient=row.recipient, service=service, service_user_id=service_user_id)


def binding_links_build(*, token: BindingToken) -> dict:
    """The spec's deep links for a token; a link is None when that bot is not configured."""
    value = quote(str(token.token))
    telegram = vk = vk_me = None
    if settings.TELEGRAM_BOT_NAME:
        telegram = f"https://t.me/{settings.TELEGRAM_BOT_NAME}?start={value}"
    if settings.VK_BOT_NAME:
        vk = f"https://vk.com/{settings.VK_BOT_NAME}?act=subscribe&user_id={value}"
        vk_me = f"https://vk.me/{settings.VK_BOT_NAME}?ref={value}"
    return {"token": str(token.token), "expires_at": token.expires_at, "telegram": telegram, "vk": vk, "vk_me": vk_me}
