"""The `/settings` dialogue: notification preferences per type and channel, written once for both bots.

Transport-agnostic like `bots.dialog` (same `Outcome`/`Reply`/`Button`). `/settings` lists the
types of the user's role as buttons; a type button shows its four channels with their state;
a channel button toggles it through `preferences_set` (audited, source = the messenger).

Button data: `s:m` (the type list), `s:t:<type>` (a type's channels), `s:x:<type>:<channel>` (toggle);
≤ 30 bytes. It names no user: the account comes from the messenger update, so a forged or
forwarded button can only change the presser's own preferences, and only while bound.
"""

from bots.dialog import SERVICE_NAMES, Button, Outcome, Reply
from config.errors import ApplicationError
from notifications.models import NotificationType, PreferenceSource, Service
from notifications.rules import MANDATORY_TYPES, types_for_role
from notifications.selectors import service_binding_get
from notifications.services import preferences_set
from notifications.services.preferences import PreferenceChangeRequest, channel_enabled

DATA_PREFIX = "s:"
CHANNEL_LABELS = {Service.TELEGRAM: "Telegram", Service.VK: "VK", Service.PUSH: "Push", Service.EMAIL: "Email"}

NOT_BOUND = ("Этот аккаунт {service} не привязан к SberCRM. Чтобы настроить уведомления, "
             "откройте ссылку для привязки из приложения SberCRM.")
MENU = "Настройки уведомлений. Выберите тип, чтобы включить или выключить каналы."
MANDATORY_NOTE = "Всегда включены (обязательные): {types}."
TYPE_MENU = "«{type}»: нажмите на канал, чтобы включить или выключить его."
MANDATORY_REFUSED = "Уведомления типа «{type}» обязательны, их нельзя отключить."
TOGGLED = "{channel}: {state}."
BACK = "← Все типы"
STALE = "Эти кнопки больше не действуют. Отправьте /settings ещё раз."
SOURCES = {"telegram": PreferenceSource.TELEGRAM, "vk": PreferenceSource.VK}


def is_settings_data(data) -> bool:
    return isinstance(data, str) and data.startswith(DATA_PREFIX)


def _recipient(service: str, account_id):
    binding = service_binding_get(service=service, service_user_id=str(account_id))
    return binding.recipient if binding and binding.is_active else None


def _state(enabled: bool) -> str:
    return "вкл" if enabled else "выкл"


def _menu(recipient) -> Reply:
    types = types_for_role(recipient.role)
    buttons = [Button(NotificationType(t).label, f"{DATA_PREFIX}t:{t}") for t in types if t not in MANDATORY_TYPES]
    lines = [MENU]
    mandatory = [NotificationType(t).label for t in types if t in MANDATORY_TYPES]
    if mandatory:
        lines.append(MANDATORY_NOTE.format(types=", ".join(mandatory)))
    return Reply("\n".join(lines), buttons)


def _type_menu(recipient, type: str) -> Reply:
    buttons = [
        Button(f"{label}: {_state(on)}", f"{DATA_PREFIX}x:{type}:{channel}", positive=on)
        for channel, label in CHANNEL_LABELS.items()
        for on in [channel_enabled(recipient=recipient, type=type, channel=channel)]
    ]
    return Reply(TYPE_MENU.format(type=NotificationType(type).label), [*buttons, Button(BACK, f"{DATA_PREFIX}m")])


def settings_start(*, service: str, account_id) -> Outcome:
    recipient = _recipient(service, account_id)
    if recipient is None:
        return Outcome(replies=[Reply(NOT_BOUND.format(service=SERVICE_NAMES[service]))])
    return Outcome(replies=[_menu(recipient)])


def settings_press(*, service: str, account_id, data: str) -> Outcome:
    recipient = _recipient(service, account_id)
    if recipient is None:
        text = NOT_BOUND.format(service=SERVICE_NAMES[service])
        return Outcome(replies=[Reply(text)], notice=text, close_question=True)
    parts = data[len(DATA_PREFIX):].split(":") if is_settings_data(data) else []
    allowed = types_for_role(recipient.role)
    if parts == ["m"]:
        return Outcome(replies=[_menu(recipient)], close_question=True)
    if len(parts) == 2 and parts[0] == "t" and parts[1] in allowed:
        return Outcome(replies=[_type_menu(recipient, parts[1])], close_question=True)
    if len(parts) == 3 and parts[0] == "x" and parts[1] in allowed and parts[2] in CHANNEL_LABELS:
        type, channel = parts[1], parts[2]
        enabled = not channel_enabled(recipient=recipient, type=type, channel=channel)
        try:
            preferences_set(recipient=recipient, source=SOURCES[service],
                            changes=[PreferenceChangeRequest(type, channel, enabled)])
        except ApplicationError:
            text = MANDATORY_REFUSED.format(type=NotificationType(type).label)
            return Outcome(replies=[Reply(text)], notice=text)
        notice = TOGGLED.format(channel=CHANNEL_LABELS[channel], state="включено" if enabled else "выключено")
        return Outcome(replies=[_type_menu(recipient, type)], notice=notice, close_question=True)
    return Outcome(replies=[Reply(STALE)], notice=STALE, close_question=True)
