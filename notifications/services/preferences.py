"""Per-user preferences (type × channel on/off) and quiet hours, with an audit row for every change.

They drive `notify` only: `POST /notifications/send` is an explicit send over the named
channel and ignores them. Mandatory types (`rules.MANDATORY_TYPES`) cannot be muted.
"""

import logging
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from config.errors import ApplicationError
from notifications.models import (
    NotificationPreference,
    NotificationType,
    PreferenceChange,
    QuietHours,
    Recipient,
    Role,
    Service,
)
from notifications.rules import MANDATORY_TYPES, type_allowed, types_for_role

logger = logging.getLogger(__name__)
QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True)
class PreferenceChangeRequest:
    type: str
    channel: str
    enabled: bool


def preferences_matrix(*, recipient: Recipient) -> list[dict]:
    """Every (type, channel) pair the recipient's role may receive, with its current state."""
    stored = {(p.type, p.channel): p.enabled for p in recipient.preferences.all()}
    return [
        {"type": t, "channel": c, "mandatory": t in MANDATORY_TYPES,
         "enabled": True if t in MANDATORY_TYPES else stored.get((t, c), True)}
        for t in types_for_role(recipient.role) for c in Service.values
    ]


def channel_enabled(*, recipient: Recipient, type: str, channel: str) -> bool:
    if type in MANDATORY_TYPES:
        return True
    pref = NotificationPreference.objects.filter(recipient=recipient, type=type, channel=channel).first()
    return pref.enabled if pref else True


def _check(recipient: Recipient, change: PreferenceChangeRequest) -> None:
    if change.type not in NotificationType.values:
        raise ApplicationError(f"Неизвестный тип «{change.type}».", field="type")
    if change.channel not in Service.values:
        raise ApplicationError(f"Неизвестный канал «{change.channel}».", field="channel")
    if not type_allowed(role=recipient.role, type=change.type):
        raise ApplicationError(f"Тип «{change.type}» недоступен для роли «{Role(recipient.role).label}».",
                               field="type")
    if change.type in MANDATORY_TYPES and not change.enabled:
        raise ApplicationError(f"Уведомления типа «{change.type}» обязательны, их нельзя отключить.",
                               code="mandatory_type", field="type")


def _on_off(value: bool | None) -> str:
    return {True: "on", False: "off", None: ""}[value]


@transaction.atomic
def preferences_set(*, recipient: Recipient, changes: list[PreferenceChangeRequest], source: str) -> int:
    """Apply the changes (all or none); one audit row per value that actually changed. Returns that count."""
    for change in changes:
        _check(recipient, change)
    Recipient.objects.select_for_update().get(pk=recipient.pk)  # one writer per recipient: exact old values
    changed = 0
    for change in changes:
        pref = NotificationPreference.objects.filter(
            recipient=recipient, type=change.type, channel=change.channel).first()
        old = pref.enabled if pref else True
        if old == change.enabled:
            continue
        NotificationPreference.objects.update_or_create(
            recipient=recipient, type=change.type, channel=change.channel, defaults={"enabled": change.enabled})
        PreferenceChange.objects.create(recipient=recipient, setting=f"{change.type}/{change.channel}",
                                        old_value=_on_off(old), new_value=_on_off(change.enabled), source=source)
        logger.info("preference %s/%s of %s: %s -> %s (%s)", change.type, change.channel, recipient.pk,
                    _on_off(old), _on_off(change.enabled), source)
        changed += 1
    return changed


def _quiet_text(quiet: QuietHours | None) -> str:
    return f"{quiet.start:%H:%M}-{quiet.end:%H:%M} {quiet.timezone}" if quiet else ""


def quiet_hours_validate(*, start: time, end: time, tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApplicationError(f"Неизвестный часовой пояс «{tz}».", field="quiet_hours")
    if start == end:
        raise ApplicationError("Начало и конец тихих часов совпадают.", field="quiet_hours")


@transaction.atomic
def quiet_hours_set(*, recipient: Recipient, start: time | None, end: time | None, tz: str = "",
                    source: str) -> QuietHours | None:
    """Set (or with start=None remove) the recipient's quiet hours; the change is audited."""
    if start is not None:
        quiet_hours_validate(start=start, end=end, tz=tz)
    Recipient.objects.select_for_update().get(pk=recipient.pk)
    current = QuietHours.objects.filter(recipient=recipient).first()
    old = _quiet_text(current)
    if start is None:
        if current:
            current.delete()
        new_row = None
    else:
        new_row, _ = QuietHours.objects.update_or_create(
            recipient=recipient, defaults={"start": start, "end": end, "timezone": tz})
    new = _quiet_text(new_row)
    if old != new:
        PreferenceChange.objects.create(recipient=recipient, setting=QUIET_HOURS, old_value=old, new_value=new,
                                        source=source)
    return new_row
