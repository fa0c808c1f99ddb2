"""Optional Sentry (SENTRY_DSN): Django and Celery errors, with our secrets redacted before sending.

Off when SENTRY_DSN is empty. No personal data (send_default_pii=False); every string of an event
(messages, exception values, frame variables, breadcrumbs, request data) goes through the same
redaction as the logs plus provider/webhook secrets and bearer tokens, and the event is tagged with the
request id, so a Sentry issue leads to the log lines and the delivery rows of that request.
"""

import re

from config.log_redaction import MASK, redact
from config.observability.request_id import request_id_get

_PATTERNS = [
    (re.compile(r"whsec_[A-Za-z0-9+/=]{8,}"), "whsec_" + MASK),  # signing secrets
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), MASK),  # JWTs (integration/service)
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1" + MASK),
]
_SECRET_KEYS = re.compile(r"(?i)(authorization|api[-_]?key|secret|token|password|passwd|cookie|signature|auth_key|dsn)")


def _clean(value):
    if isinstance(value, str):
        value = redact(value)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEYS.search(k) and isinstance(v, str) and v
                    else _clean(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def before_send(event, hint):
    event = _clean(event)
    request_id = request_id_get()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def before_breadcrumb(crumb, hint):
    return _clean(crumb)


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> bool:
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn, environment=environment or None, release=release or None, send_default_pii=False,
        traces_sample_rate=traces_sample_rate, before_send=before_send, before_breadcrumb=before_breadcrumb,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
    return True
