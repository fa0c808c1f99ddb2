"""Verify that a request really comes from SberCRM (Standard Webhooks signature)."""

import base64
import hashlib
import hmac
import time

from standardwebhooks import Webhook

TOLERANCE_SECONDS = 5 * 60


def verify_with_library(secret: str, body: bytes, headers: dict) -> dict:
    """pip install standardwebhooks. Raises WebhookVerificationError; returns the parsed JSON body."""
    return Webhook(secret).verify(body, headers)


def verify_with_hmac(secret: str, body: bytes, headers: dict) -> None:
    """The same check with the standard library only. Raises ValueError."""
    headers = {name.lower(): value for name, value in headers.items()}
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("timestamp is too old or too new")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body  # the raw body, exactly as received
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Several space-separated signatures are sent while a secret is being rotated.
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise ValueError("no matching signature")
