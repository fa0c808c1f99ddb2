"""Keeps credentials out of log records written by HTTP client libraries.

urllib3 logs every request line at DEBUG, and the Telegram Bot API carries the bot token in
the URL path (`/bot<id>:<secret>/sendMessage`). The filter is attached to the loggers that
create such records (settings.LOGGING), so every handler, present or future, gets the
redacted text.
"""

import logging
import re

from django.conf import settings

SECRET_SETTINGS = ("TELEGRAM_BOT_TOKEN", "VK_GROUP_TOKEN", "ONESIGNAL_API_KEY", "EMAIL_HOST_PASSWORD",
                   "TELEGRAM_WEBHOOK_SECRET", "VK_CALLBACK_SECRET")
MASK = "****"
PATTERNS = [
    (re.compile(r"(/bot\d+:)[A-Za-z0-9_-]+"), r"\1" + MASK),  # Telegram Bot API paths
    (re.compile(r"((?:access_token|api_key|apikey|token|key)=)[^&\s\"']+", re.IGNORECASE), r"\1" + MASK),
]


def redact(text: str) -> str:
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        if value and len(value) >= 6:
            text = text.replace(value, MASK)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
