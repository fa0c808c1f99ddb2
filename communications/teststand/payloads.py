"""Request bodies the stand sends: the production builders (communications/provider_contract.py)
filled with sandbox values, so a provider that passes the stand gets exactly these shapes later.

The stand calls the endpoints in `plan()` order; later bodies reuse what earlier answers
returned (the channel from getChannels, the provider's message id from sendMessage).
"""

from dataclasses import dataclass

from django.conf import settings

from communications import provider_contract as contract

CORE_ORDER = ("getChannels", "sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead")
OPTIONAL_ORDER = ("setWebhook", "getMessageHistory", "bulkMessages", "deleteWebhook")
LAST = "disconnect"
# Endpoints whose answers show whether a repeated Idempotency-Key had a second effect.
REPEATED = ("sendMessage", "bulkMessages")
FALLBACK_CHANNEL_ID = "teststand-channel"
OPERATOR_ID = "teststand-operator"
# The sandbox integration ends like a deactivated token.
DISCONNECT_REASON = "token_deactivated"


def plan(endpoints: dict) -> list[str]:
    """Endpoint names to call, in order: required ones always, optional ones when configured, disconnect last."""
    return [*CORE_ORDER, *(name for name in OPTIONAL_ORDER if (endpoints or {}).get(name)), LAST]


@dataclass
class RunContext:
    tenant_id: str
    run_id: int
    channel_id: str = FALLBACK_CHANNEL_ID
    provider_message_id: str = ""

    @property
    def chat_id(self) -> str:
        return f"teststand-chat-{self.run_id}"

    def client_message_id(self, n: int) -> str:
        """Our temporary id, like production's `crm-<uuid>` (`crmb-` inside bulkMessages)."""
        return f"{'crmb' if n > 1 else 'crm'}-teststand-{self.run_id}-{n}"

    def ids(self) -> dict:
        """Like production: the provider's id once sendMessage returned one, else our client id."""
        if self.provider_message_id:
            return {"message_id": self.provider_message_id, "client_message_id": None}
        return {"message_id": None, "client_message_id": self.client_message_id(1)}


def _send(ctx: RunContext, n: int) -> dict:
    return contract.send_message_body(
        tenant_id=ctx.tenant_id, chat_id=ctx.chat_id, channel_id=ctx.channel_id,
        client_message_id=ctx.client_message_id(n), operator_id=OPERATOR_ID,
        text=f"Проверка тестового стенда SberCRM №{ctx.run_id}: сообщение {n}. Ответ не требуется.")


def build(endpoint: str, ctx: RunContext) -> dict:
    """The JSON body the stand sends to `endpoint`."""
    tenant_id = ctx.tenant_id
    if endpoint == "getChannels":
        return contract.get_channels_body(tenant_id=tenant_id)
    if endpoint == "sendMessage":
        return _send(ctx, 1)
    if endpoint == "updateMessageContent":
        return contract.update_content_body(tenant_id=tenant_id, chat_id=ctx.chat_id, **ctx.ids(),
                                            text=f"Проверка тестового стенда SberCRM №{ctx.run_id}: исправленный текст.")
    if endpoint == "updateMessageStatus":
        return contract.update_status_body(tenant_id=tenant_id, chat_id=ctx.chat_id, **ctx.ids(), status="read")
    if endpoint == "markChatRead":
        return contract.mark_chat_read_body(tenant_id=tenant_id, chat_id=ctx.chat_id, channel_id=ctx.channel_id)
    if endpoint == "setWebhook":
        return contract.set_webhook_body(tenant_id=tenant_id, url=settings.COMMUNICATIONS_PUBLIC_API_URL)
    if endpoint == "getMessageHistory":
        return contract.message_history_body(tenant_id=tenant_id, cursor=None, limit=settings.INITIAL_SYNC_PAGE_SIZE)
    if endpoint == "bulkMessages":
        return contract.bulk_messages_body(tenant_id=tenant_id, messages=[_send(ctx, 2), _send(ctx, 3)])
    if endpoint == "deleteWebhook":
        return contract.delete_webhook_body(tenant_id=tenant_id)
    if endpoint == "disconnect":
        return contract.disconnect_body(tenant_id=tenant_id, reason=DISCONNECT_REASON)
    raise ValueError(f"unknown endpoint {endpoint}")
