"""The binding dialogue (spec «Привязка пользователя к сервису через Telegram и VK»), written once.

Transport-agnostic: the Telegram and VK adapters turn their updates into calls of
`start`, `press`, `blocked` and the command table (`bots/commands.py`) and render the returned `Outcome`
(Telegram inline keyboard, VK keyboard with payloads).

Steps: the user opens the link → `start(token)` checks the one-time token and asks to
confirm (warning when the account or the profile is already bound elsewhere) → a button
press → `press(data)` binds through `binding_token_consume` (history row old → new) or
cancels → the bot lists the notification types of the user's role (`types_for_role`).

Button data is `b:ok:<nonce>` / `b:no:<nonce>` (≤ 64 bytes). The nonce lives in
`PendingBinding` with the account it was sent to and the token, so a press from any other
account, or a press after the question was answered or replaced, does nothing.
"""

import secrets
from dataclasses import dataclass, field

from django.db import transaction

from bots.models import PendingBinding
from notifications.errors import BindingTokenInvalid
from notifications.models import NotificationType, Recipient, Role
from notifications.rules import types_for_role
from notifications.selectors import (
    binding_token_get,
    binding_token_is_usable,
    service_binding_for_recipient,
    service_binding_get,
)
from notifications.services import binding_token_consume, service_binding_deactivate

SERVICE_NAMES = {"telegram": "Telegram", "vk": "ВКонтакте"}
CONFIRM, CANCEL = "ok", "no"
DATA_PREFIX = "b:"
MAX_TOKEN_LENGTH = 64  # Telegram's /start payload limit; anything longer is not our token

HELP = ("Здравствуйте! Это бот уведомлений SberCRM. Чтобы получать уведомления здесь, "
        "откройте ссылку для привязки из приложения SberCRM.")
TOKEN_UNKNOWN = "Ссылка для привязки не найдена. Запросите новую ссылку в приложении SberCRM."
TOKEN_EXPIRED = "Срок действия ссылки для привязки истёк. Запросите новую ссылку в приложении SberCRM."
TOKEN_USED = "Эта ссылка для привязки уже использована. Запросите новую ссылку в приложении SberCRM."
TOKEN_USED_HERE = "Эта ссылка уже использована: этот аккаунт {service} привязан по ней. Уведомления приходят сюда."
ALREADY_BOUND = "Этот аккаунт {service} уже привязан к {profile}. Уведомления приходят сюда."
ASK = "Привязать этот аккаунт {service} к {profile} для получения уведомлений?"
ACCOUNT_TAKEN = "Этот аккаунт {service} уже привязан к другому пользователю SberCRM."
PROFILE_TAKEN = "К {profile} уже привязан другой аккаунт {service}."
ASK_CHANGE = "Изменить привязку: получать уведомления {profile} в этом аккаунте {service}?"
DONE = "Готово! Аккаунт {service} привязан к {profile}.\nВаша роль: {role}. Доступные типы уведомлений:\n{types}"
CANCELLED = "Привязка отменена, ничего не изменилось."
STALE = "Эти кнопки больше не действуют. Откройте ссылку для привязки ещё раз."
NOTICE_DONE = "Привязка подтверждена."
NOTICE_ALREADY_DONE = "Привязка уже подтверждена."
NOTICE_CANCELLED = "Привязка отменена."
NOTICE_ALREADY_CANCELLED = "Привязка уже отменена."
BLOCKED_REASON = "Пользователь заблокировал бота"

TOKEN_ERRORS = {"unknown": TOKEN_UNKNOWN, "expired": TOKEN_EXPIRED, "used": TOKEN_USED}


@dataclass(frozen=True)
class Button:
    label: str
    data: str
    positive: bool = False


@dataclass
class Reply:
    text: str
    buttons: list[Button] = field(default_factory=list)


@dataclass
class Outcome:
    """What the bot answers. `notice` is the short answer to a button press (Telegram shows it
    as a popup; VK sends it as a message when there is no reply); `close_question` asks the
    adapter to remove the buttons of the answered question."""

    replies: list[Reply] = field(default_factory=list)
    notice: str = ""
    close_question: bool = False


def _profile(recipient: Recipient) -> str:
    return f"профилю «{recipient.name}»" if recipient.name else "вашему профилю SberCRM"


def _fmt(template: str, *, service: str, recipient: Recipient | None = None, **extra) -> str:
    profile = _profile(recipient) if recipient else ""
    return template.format(service=SERVICE_NAMES[service], profile=profile, **extra)


def help_reply() -> Outcome:
    return Outcome(replies=[Reply(HELP)])


def start(*, service: str, account_id: str | int, token: str) -> Outcome:
    """Steps 1–4: the user came with `token`; answer with an error or a confirmation question."""
    account_id = str(account_id)
    row = binding_token_get(token=token.strip()[:MAX_TOKEN_LENGTH]) if token else None
    if row is None:
        return Outcome(replies=[Reply(TOKEN_UNKNOWN)])
    if row.used_at is not None:
        here = row.used_service == service and row.used_service_user_id == account_id
        return Outcome(replies=[Reply(_fmt(TOKEN_USED_HERE, service=service) if here else TOKEN_USED)])
    if not binding_token_is_usable(row):
        return Outcome(replies=[Reply(TOKEN_EXPIRED)])

    recipient = row.recipient
    account_binding = service_binding_get(service=service, service_user_id=account_id)
    if account_binding and account_binding.recipient_id == recipient.pk and account_binding.is_active:
        # Nothing to change; use the token up so the link cannot bind anyone else.
        try:
            binding_token_consume(token=row.token, service=service, service_user_id=account_id)
        except BindingTokenInvalid:
            pass  # used or expired a moment ago: the account is bound all the same
        return Outcome(replies=[Reply(_fmt(ALREADY_BOUND, service=service, recipient=recipient))])

    warnings = []
    if account_binding and account_binding.recipient_id != recipient.pk:
        warnings.append(_fmt(ACCOUNT_TAKEN, service=service))
    profile_binding = service_binding_for_recipient(recipient=recipient, service=service)
    if profile_binding and profile_binding.service_user_id != account_id:
        warnings.append(_fmt(PROFILE_TAKEN, service=service, recipient=recipient))

    nonce = _pending_ask(service=service, account_id=account_id, token=row)
    if warnings:
        question, confirm_label = _fmt(ASK_CHANGE, service=service, recipient=recipient), "Изменить привязку"
    else:
        question, confirm_label = _fmt(ASK, service=service, recipient=recipient), "Подтвердить"
    buttons = [Button(confirm_label, f"{DATA_PREFIX}{CONFIRM}:{nonce}", positive=True),
               Button("Отмена", f"{DATA_PREFIX}{CANCEL}:{nonce}")]
    return Outcome(replies=[Reply("\n".join([*warnings, question]), buttons)])


@transaction.atomic
def _pending_ask(*, service: str, account_id: str, token) -> str:
    """The nonce for the question: kept when the same token is asked again (repeated /start),
    new (old buttons stop working) when the account comes with another token."""
    pending = PendingBinding.objects.select_for_update().filter(service=service, account_id=account_id).first()
    if pending and pending.token_id == token.pk and pending.status == PendingBinding.Status.PENDING:
        return pending.nonce
    nonce = secrets.token_urlsafe(12)
    PendingBinding.objects.update_or_create(
        service=service, account_id=account_id,
        defaults={"nonce": nonce, "token": token, "status": PendingBinding.Status.PENDING})
    return nonce


def is_button_data(data: str) -> bool:
    return isinstance(data, str) and data.startswith(DATA_PREFIX)


@transaction.atomic
def press(*, service: str, account_id: str | int, data: str) -> Outcome:
    """Step 4: a confirm/cancel button. The pending row is locked, so a double click or two
    racing presses are applied once; the token lock inside `binding_token_consume` backs it."""
    action, _, nonce = data[len(DATA_PREFIX):].partition(":") if is_button_data(data) else ("", "", "")
    pending = (PendingBinding.objects.select_for_update().select_related("token__recipient")
               .filter(service=service, account_id=str(account_id), nonce=nonce).first())
    if pending is None or action not in (CONFIRM, CANCEL):
        return Outcome(replies=[Reply(STALE)], notice=STALE)
    if pending.status == PendingBinding.Status.CONFIRMED:
        return Outcome(notice=NOTICE_ALREADY_DONE, close_question=True)
    if pending.status == PendingBinding.Status.CANCELLED:
        return Outcome(notice=NOTICE_ALREADY_CANCELLED, close_question=True)
    if pending.status == PendingBinding.Status.FAILED:
        return Outcome(replies=[Reply(STALE)], notice=STALE, close_question=True)

    if action == CANCEL:
        pending.status = PendingBinding.Status.CANCELLED
        pending.save(update_fields=["status", "updated_at"])
        return Outcome(replies=[Reply(CANCELLED)], notice=NOTICE_CANCELLED, close_question=True)

    try:
        binding = binding_token_consume(token=pending.token_id, service=service, service_user_id=account_id)
    except BindingTokenInvalid as exc:
        pending.status = PendingBinding.Status.FAILED
        pending.save(update_fields=["status", "updated_at"])
        text = _fmt(TOKEN_USED_HERE, service=service) if exc.same_account else TOKEN_ERRORS[exc.reason]
        return Outcome(replies=[Reply(text)], notice=text, close_question=True)
    pending.status = PendingBinding.Status.CONFIRMED
    pending.save(update_fields=["status", "updated_at"])
    return Outcome(replies=[Reply(done_text(service=service, recipient=binding.recipient))],
                   notice=NOTICE_DONE, close_question=True)


def done_text(*, service: str, recipient: Recipient) -> str:
    """Step 5: completion and the types the role may receive (the send API's matrix)."""
    types = "\n".join(f"• {NotificationType(t).label}" for t in types_for_role(recipient.role))
    return _fmt(DONE, service=service, recipient=recipient, role=Role(recipient.role).label, types=types)


def blocked(*, service: str, account_id: str | int) -> bool:
    """The user blocked the bot: the binding stays but is inactive. True when one was active."""
    return service_binding_deactivate(service=service, service_user_id=account_id, reason=BLOCKED_REASON)
