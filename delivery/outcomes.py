"""One classification of an outbound call's result, for every kind.

SUCCESS    the receiver took it.
PERMANENT  the receiver refused it for good (4xx other than 408/425/429; SMTP 5xx; a blocked bot).
TRANSIENT  it surely did not arrive, or the receiver asks to come back (refused connection, DNS,
           connect timeout, 408/425/429, 5xx, SMTP 4xx): retried.
AMBIGUOUS  it may have arrived (read timeout, reset after the body was sent): retried only where the
           receiver drops repeats (providers by Idempotency-Key, OneSignal idempotency_key, VK random_id);
           Telegram and email record `unknown` and never re-send on their own.
BROKEN     we cannot make the call as configured (redirect, URL refused by the SSRF guard): a dead letter.
DEFERRED   not attempted: a shared rate limit asks to wait (not counted as an attempt).
"""

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

SUCCESS, PERMANENT, TRANSIENT, AMBIGUOUS, BROKEN = "success", "permanent", "transient", "ambiguous", "broken"
DEFERRED = "deferred"
RETRYABLE_STATUS = (408, 425, 429)


def http_outcome(status_code: int) -> str:
    if 200 <= status_code < 300:
        return SUCCESS
    if 300 <= status_code < 400:
        return BROKEN
    if status_code in RETRYABLE_STATUS or status_code >= 500:
        return TRANSIENT
    return PERMANENT


def request_error_outcome(exc: requests.RequestException) -> str:
    """TRANSIENT when the request surely never left (refused, DNS, connect timeout), else AMBIGUOUS."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(reason, (NewConnectionError,
                                                                                 ConnectTimeoutError))
    return TRANSIENT if never_sent else AMBIGUOUS


def retried(outcome: str, *, drops_duplicates: bool) -> bool:
    """Whether the engine tries again after this outcome."""
    return outcome == TRANSIENT or (outcome == AMBIGUOUS and drops_duplicates)
