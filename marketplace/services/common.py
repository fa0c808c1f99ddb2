"""Helpers shared by the marketplace services: the decision history and the communications scope."""

import logging

from marketplace.models import AppVersion, ModerationDecision, Scope
from marketplace.selectors import app_version_has_scope

logger = logging.getLogger(__name__)

Action = ModerationDecision.Action
COMMUNICATIONS = Scope.COMMUNICATIONS


def decision_record(*, version: AppVersion, action: str, actor, reason: str = "") -> ModerationDecision:
    return ModerationDecision.objects.create(version=version, action=action, actor=actor, reason=reason)


def uses_communications(version: AppVersion) -> bool:
    return app_version_has_scope(version=version, code=COMMUNICATIONS)


