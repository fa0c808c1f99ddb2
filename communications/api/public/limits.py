"""Limits of the public API. Documented in docs/public-api.md; each breach is a clear 4xx."""

MAX_BODY_BYTES = 2 * 1024 * 1024  # 413 payload_too_large above this
MAX_TEXT_LENGTH = 10_000  # characters of a message text
MAX_PARTICIPANTS = 100  # participants in one chat payload
MAX_BULK_MESSAGES = 100  # items in POST /bulk/messages (at least 1)
MAX_ID_LENGTH = 255  # provider external ids (channelId, chatId, messageId, participant id)
MAX_METADATA_BYTES = 8 * 1024  # `metadata` objects, as JSON
MAX_ERROR_LENGTH = 2000  # error description of a failed status
MAX_WEBHOOK_URL_LENGTH = 2000
MAX_ATTACHMENTS = 10  # attachments of one message
MAX_ATTACHMENT_URL_LENGTH = 2000
