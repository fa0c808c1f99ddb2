"""The provider contract in one place: what the module sends to each provider endpoint,
what it reads from the answer, and the webhook event bodies.

The real services build their bodies with these functions (services/operator.py,
services/sync.py, services/webhook_events.py); the developer portal shows, and the test
stand sends, the same builders filled with example values. So the three cannot drift.
Which endpoints exist, and everything else about each: the registry, communications/endpoints.py.
Prose reference: docs/provider-calls.md and docs/webhook-events.md.
"""

from datetime import UTC, datetime

EXAMPLE_TENANT = "8f14e45f-ceea-4671-9b8a-3c1d2e5f6a7b"
EXAMPLE_PUBLIC_API_URL = "https://crm.example.ru/api/v1/"

# ONE event vocabulary, "<object>.<change>", for both directions (docs/webhook-events.md):
# - the provider reports these changes to our public API (`setWebhook.events` lists them);
# - we send the `Webhook.Event` ones (message.*, chat.seen, integration.deactivated) to the provider's webhook.
EVENT_VOCABULARY = {
    "channel.connected": "POST /channels",
    "channel.updated": "PATCH /channels/{channelId}",
    "channel.disconnected": "DELETE /channels/{channelId}",
    "chat.created": "POST /chats",
    "chat.updated": "PATCH /chats/{chatId}",
    "chat.seen": "POST /chats/{chatId}/seen",
    "message.created": "POST /messages, POST /bulk/messages",
    "message.updated": "PATCH /messages/{messageId}",
    "message.status_changed": "POST /messages/{messageId}/status",
    "integration.deactivated": "только от SberCRM к провайдеру",
}
SET_WEBHOOK_EVENTS = ("channel.connected", "channel.updated", "channel.disconnected", "chat.created", "chat.updated",
                      "chat.seen", "message.created", "message.updated", "message.status_changed")
# The test stand's sandbox tenant has no integration token: its setWebhook carries this example value.
EXAMPLE_AUTHORIZATION = "Bearer eyJhbGciOiJIUzI1NiJ9.example.token"
DISCONNECT_REASONS = ("token_deactivated", "app_disabled")

# The API-key header of a configuration must not be one the module sets itself or one that frames
# the request: the key would replace the signature, vanish, or become the Host.
RESERVED_HEADERS = frozenset({
    "host", "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "idempotency-key", "user-agent",
    "accept", "accept-encoding", "cookie",
})
RESERVED_HEADER_PREFIXES = ("content-", "webhook-", "x-sbercrm-")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def key_header_problem(name) -> str | None:
    """Why `name` can't carry the provider's API key (Russian, for the field error), or None."""
    if not isinstance(name, str) or not name or len(name) > 100 or not set(name) <= _TOKEN_CHARS:
        return "Укажите имя HTTP-заголовка для ключа (латиница, цифры и дефис), например X-API-Key."
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES):
        return (f"Заголовок {name} зарезервирован (служебные заголовки HTTP, Host, Content-*, Idempotency-Key, "
                "webhook-*, X-SberCRM-*); выберите другой, например X-API-Key.")
    return None


# --- requests: one builder per endpoint ----------------------------------------------------------

def get_channels_body(*, tenant_id) -> dict:
    return {"tenantId": str(tenant_id)}


def bearer(token_value: str) -> str:
    return f"Bearer {token_value}"


def set_webhook_body(*, tenant_id, url: str, authorization: str = EXAMPLE_AUTHORIZATION) -> dict:
    """`url` is our public API base; `authorization` the exact Authorization header to call it with
    (`Bearer <the tenant's integration token>`); `events` the changes to report there."""
    return {"tenantId": str(tenant_id), "url": url, "authorization": authorization,
            "events": list(SET_WEBHOOK_EVENTS)}


def masked_payload(payload):
    """A payload for display: the integration token in `authorization` shown as `Bearer ****abcd`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("authorization"), str):
        return payload
    scheme, _, value = payload["authorization"].partition(" ")
    return {**payload, "authorization": f"{scheme} ****{value[-4:]}" if value else scheme}


def delete_webhook_body(*, tenant_id) -> dict:
    return {"tenantId": str(tenant_id)}


def _reason(reason: str) -> str:
    if reason not in DISCONNECT_REASONS:
        raise ValueError(f"unknown disconnect reason {reason!r}")
    return reason


def disconnect_body(*, tenant_id, reason: str) -> dict:
    return {"tenantId": str(tenant_id), "reason": _reason(reason)}


def message_history_body(*, tenant_id, cursor: str | None, limit: int) -> dict:
    """`cursor` is None for the first page, then the previous answer's `nextCursor`."""
    return {"tenantId": str(tenant_id), "cursor": cursor or None, "limit": limit}


def send_message_body(*, tenant_id, chat_id: str, channel_id: str | None, client_message_id: str, text: str,
                      operator_id: str | None, attachments: list[dict] | None = None,
                      reply_to: str | None = None) -> dict:
    """`attachments` (built by `attachment_item`) and `replyTo` (the provider's id of the quoted message)
    are present only when the message has them; a provider without the attachments capability never
    gets `attachments`."""
    body = {"tenantId": str(tenant_id), "chatId": chat_id, "channelId": channel_id,
            "clientMessageId": client_message_id, "text": text, "operatorId": operator_id or None}
    if attachments:
        body["attachments"] = attachments
    if reply_to:
        body["replyTo"] = reply_to
    return body


def attachment_item(*, type: str, url: str | None, name: str = "", mime_type: str = "", size: int | None = None,
                    checksum: str = "", location: dict | None = None, contact: dict | None = None) -> dict:
    """One attachment of `sendMessage`/`sendBulk`: a file as a signed, expiring `url` (GET, no auth) with its
    `sha256` checksum; a location or contact as its fields."""
    item = {"type": type}
    if url:
        item.update({"url": url, "name": name, "mimeType": mime_type, "size": size, "checksum": checksum})
    if location:
        item["location"] = location
    if contact:
        item["contact"] = contact
    return item


# Capabilities a configuration may declare (optional block; absent = text only).
CAPABILITY_KEYS = {"attachments": bool, "attachmentTypes": list, "maxAttachmentBytes": int}


def update_content_body(*, tenant_id, chat_id: str, message_id: str | None, client_message_id: str | None,
                        text: str) -> dict:
    """`messageId` is the provider's id; only while it is unknown, `clientMessageId` names the message."""
    return {"tenantId": str(tenant_id), "chatId": chat_id, "messageId": message_id,
            "clientMessageId": client_message_id, "text": text}


def update_status_body(*, tenant_id, chat_id: str, message_id: str | None, client_message_id: str | None,
                       status: str, error: str = "") -> dict:
    return {"tenantId": str(tenant_id), "chatId": chat_id, "messageId": message_id,
            "clientMessageId": client_message_id, "status": status, "error": error or None}


def mark_chat_read_body(*, tenant_id, chat_id: str, channel_id: str | None) -> dict:
    return {"tenantId": str(tenant_id), "chatId": chat_id, "channelId": channel_id}


def bulk_messages_body(*, tenant_id, messages: list[dict]) -> dict:
    """`messages`: sendMessage bodies (each with its own tenantId), at most 100."""
    return {"tenantId": str(tenant_id), "messages": messages}


# --- answers the module reads ----------------------------------------------------------------------

def answer_message_id(body) -> str:
    """The provider's message id in a sendMessage answer (or a bulkMessages result): `messageId`, else `id`."""
    if not isinstance(body, dict):
        return ""
    value = body.get("messageId") or body.get("id")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def utc_timestamp(value: datetime | None = None) -> str:
    """Every timestamp we send: ISO 8601 in UTC with `Z` (now, when `value` is None)."""
    value = value or datetime.now(UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- webhook events (module → provider's webhook) -------------------------------------------------------

def webhook_envelope(*, event: str, tenant_id, timestamp: str, data: dict) -> dict:
    return {"type": event, "timestamp": timestamp, "data": {"tenantId": str(tenant_id), **data}}


def message_event_data(*, chat_id: str, message_id: str | None, client_message_id: str | None, direction: str,
                       text: str, status: str, error: str, seen: bool, created_at: str | None,
                       edited_at: str | None, attachments: list[dict] | None = None,
                       reply_to: str | None = None) -> dict:
    """`data` of message.created / message.updated / message.status_changed (besides tenantId).
    `attachments` (as in sendMessage) and `replyTo` only when the message has them."""
    data = {"chatId": chat_id, "messageId": message_id, "clientMessageId": client_message_id,
            "direction": direction, "text": text, "status": status, "error": error, "seen": seen,
            "createdAt": created_at, "editedAt": edited_at}
    if attachments:
        data["attachments"] = attachments
    if reply_to:
        data["replyTo"] = reply_to
    return data


def chat_seen_event_data(*, chat_id: str, updated: int) -> dict:
    return {"chatId": chat_id, "updated": updated}


def integration_deactivated_event_data(*, provider_code: str, reason: str) -> dict:
    return {"providerCode": provider_code, "reason": _reason(reason)}


# --- examples (portal, docs tests; each endpoint's own pair is in its registry entry, endpoints.py) ---

_T = EXAMPLE_TENANT
# The sendMessage example (the registry's, communications/endpoints.py); the webhook examples describe it too.
EXAMPLE_SEND_MESSAGE = send_message_body(tenant_id=_T, chat_id="chat-1001", channel_id="tg-bot-1",
                                         client_message_id="crm-5f0e2b1c-7d4a-4f0e-9c1b-2a3d4e5f6a70",
                                         text="Ваш заказ передан в доставку", operator_id="operator-17")
_SEND = EXAMPLE_SEND_MESSAGE

# A chat created without a channel (POST /chats or /messages without channelId): our calls about it carry
# "channelId": null and the provider delivers by chatId alone (docs/public-api.md, «Чат без канала»).
EXAMPLE_REQUESTS_CHAT_WITHOUT_CHANNEL = {
    "sendMessage": send_message_body(tenant_id=_T, chat_id="chat-2002", channel_id=None,
                                     client_message_id="crm-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                                     text="Добрый день!", operator_id=None),
    "markChatRead": mark_chat_read_body(tenant_id=_T, chat_id="chat-2002", channel_id=None),
}

# An operator's reply with a file and a location, quoting the client's message (docs/provider-calls.md,
# «Attachments and replies»): only for configurations with "capabilities": {"attachments": true}.
EXAMPLE_REQUESTS_WITH_ATTACHMENTS = {
    "sendMessage": send_message_body(
        tenant_id=_T, chat_id="chat-1001", channel_id="tg-bot-1",
        client_message_id="crm-7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f", text="Счёт во вложении",
        operator_id="operator-17", reply_to="msg-5001", attachments=[
            attachment_item(type="file", url="https://crm.example.ru/api/v1/files/eyJhIjo0Mn0:1t9Xk2:signature",
                            name="счёт.pdf", mime_type="application/pdf", size=48213,
                            checksum="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            attachment_item(type="location", url=None,
                            location={"latitude": 55.7558, "longitude": 37.6173, "title": "Пункт выдачи"}),
        ]),
}

OK_ANSWER = {"ok": True}  # any 2xx; the body is not read

_TS = "2026-11-20T10:16:00.123456Z"
_MESSAGE = message_event_data(chat_id="chat-1001", message_id=None,
                              client_message_id=_SEND["clientMessageId"], direction="outgoing",
                              text=_SEND["text"], status="sent", error="", seen=True, created_at=_TS, edited_at=None)
_ACKNOWLEDGED = {**_MESSAGE, "messageId": "prov-9f2c", "clientMessageId": None}
WEBHOOK_EVENT_EXAMPLES = {
    "message.created": webhook_envelope(event="message.created", tenant_id=_T, timestamp=_TS, data=_MESSAGE),
    "message.updated": webhook_envelope(
        event="message.updated", tenant_id=_T, timestamp="2026-11-20T10:17:00Z",
        data={**_ACKNOWLEDGED, "text": "Ваш заказ №123 передан в доставку", "editedAt": "2026-11-20T10:17:00Z"}),
    "message.status_changed": webhook_envelope(
        event="message.status_changed", tenant_id=_T, timestamp="2026-11-20T10:18:00Z",
        data={**_ACKNOWLEDGED, "status": "failed", "error": "Клиент заблокировал бота"}),
    "chat.seen": webhook_envelope(event="chat.seen", tenant_id=_T, timestamp="2026-11-20T10:19:00Z",
                                  data=chat_seen_event_data(chat_id="chat-1001", updated=3)),
    "integration.deactivated": webhook_envelope(
        event="integration.deactivated", tenant_id=_T, timestamp="2026-11-20T10:20:00Z",
        data=integration_deactivated_event_data(provider_code="acme-chat", reason="token_deactivated")),
}
