"""The role × notification type matrix (spec «Типы уведомлений»).

This is the ONE place for it: the send API validates with `type_allowed`, the bots list
`types_for_role` after a binding. Formats and length limits belong to each channel
(`notifications/transports/`).
"""

from dataclasses import dataclass

from notifications.models import NotificationType, Role

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


@dataclass(frozen=True)
class Rendered:
    """What a channel sends: `title` is the email subject / push heading, `body` the text."""

    title: str
    body: str
