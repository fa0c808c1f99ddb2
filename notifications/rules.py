"""The role × notification type matrix and the per-service message formats.

This is the ONE place for both rules: the send API validates with
`type_allowed`, the bots list `types_for_role` after a binding.
"""

from dataclasses import dataclass

from notifications.models import NotificationType, Role, Service

_ALL = frozenset(Role)
_ADMINS = frozenset({Role.ADMIN})
_ADMINS_MANAGERS = frozenset({Role.ADMIN, Role.MANAGER})

# Spec «Типы уведомлений».
ROLE_TYPE_MATRIX: dict[str, frozenset[str]] = {
    NotificationType.NOTIFICATION: _ALL,
    NotificationType.ERROR: _ADMINS,
    NotificationType.CRITICAL: _ADMINS_MANAGERS,
    NotificationType.DEADLINE: _ADMINS_MANAGERS,
    NotificationType.SERVICE: _ADMINS,
}


# Types the user cannot mute (preferences) and that ignore quiet hours.
MANDATORY_TYPES: frozenset[str] = frozenset({NotificationType.ERROR, NotificationType.CRITICAL})


def type_allowed(*, role: str, type: str) -> bool:
    return role in ROLE_TYPE_MATRIX.get(type, frozenset())


def types_for_role(role: str) -> list[str]:
    """Types the role may receive, in the spec's order (for the bots' «доступные типы»)."""
    return [t for t in NotificationType if role in ROLE_TYPE_MATRIX[t]]


# Length limits after formatting. Longer text is rejected with 400, never cut silently.
TELEGRAM_TEXT_LIMIT = 4096  # Bot API sendMessage
VK_TEXT_LIMIT = 4096  # messages.send; VK answers error 914 above it
PUSH_TITLE_LIMIT = 256  # keeps the APNs/FCM payload (4 KB) safe with Cyrillic text
PUSH_BODY_LIMIT = 1500
EMAIL_SUBJECT_LIMIT = 998  # RFC 5322 line length


@dataclass(frozen=True)
class Rendered:
    """What a channel sends: `title` is the email subject / push heading, `body` the text."""

    title: str
    body: str


def render(*, service: str, role: str, subject: str, type: str, message: str) -> Rendered:
    """Spec «Таблица форматов уведомлений в зависимости от роли».

    Push title: `{subject}` for Пользователь, `{subject} | {type}` for every staff role.
    The spec table has no Менеджер row; a manager is staff like the moderator and the
    admin, so they get the type in the title too.
    """
    if service == Service.EMAIL:
        return Rendered(title=f"{subject} | {type}", body=message)
    if service == Service.PUSH:
        title = subject if role == Role.USER else f"{subject} | {type}"
        return Rendered(title=title, body=message)
    return Rendered(title="", body=f"Тема: {subject} | {type}\n{message}")


def length_error(*, service: str, rendered: Rendered) -> str | None:
    """A human-readable reason when the formatted message exceeds the channel limit."""
    checks = {
        Service.EMAIL: [(rendered.title, EMAIL_SUBJECT_LIMIT, "тема письма")],
        Service.PUSH: [(rendered.title, PUSH_TITLE_LIMIT, "заголовок push"), (rendered.body, PUSH_BODY_LIMIT, "текст push")],
        Service.TELEGRAM: [(rendered.body, TELEGRAM_TEXT_LIMIT, "сообщение Telegram")],
        Service.VK: [(rendered.body, VK_TEXT_LIMIT, "сообщение VK")],
    }[service]
    for text, limit, what in checks:
        if len(text) > limit:
            return f"{what.capitalize()} после форматирования длиннее {limit} символов ({len(text)})."
    return None
