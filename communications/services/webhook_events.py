"""Events for the webhook a provider registered through the public API (`POST /api/v1/webhooks`).

Each event is an outbox delivery (`delivery_enqueue_webhook`) written in the transaction of
the change it reports, signed per Standard Webhooks with the webhook's own secret. Body:

    {"type": "message.created", "timestamp": "2025-01-01T12:00:00Z",
     "data": {"tenantId": "...", ...}}

Events about one chat share its ordering key, so they arrive in the order they happened.
Catalogue and payloads: docs/webhook-events.md.
"""

from communications import provider_contract as contract
from communications.models import Message, TenantConfiguration, Webhook
from communications.services.attachments import attachments_for_provider
from communications.services.deliveries import delivery_enqueue_webhook

Event = Webhook.Event


_LOOK_UP = object()


def webhook_event_emit(*, tenant_configuration: TenantConfiguration, event: str, data: dict,
                       ordering_key: str = "", webhook: Webhook | None = _LOOK_UP) -> bool:
    """Queue `event` if the tenant+provider has a webhook subscribed to it. Returns whether it was queued.
    `webhook`: the tenant's webhook (or None) when the caller read it already in this transaction."""
    if webhook is _LOOK_UP:
        webhook = Webhook.objects.filter(tenant_id=tenant_configuration.tenant_id,
                                         provider_id=tenant_configuration.provider_id).first()
    if webhook is None or event not in (webhook.events or []):
        return False
    payload = contract.webhook_envelope(event=event, tenant_id=tenant_configuration.tenant_id,
                                        timestamp=contract.utc_timestamp(), data=data)
    delivery_enqueue_webhook(tenant_configuration=tenant_configuration, url=webhook.url, secret=webhook.secret,
                             event=event, payload=payload, ordering_key=ordering_key)
    return True


def message_data(message: Message, *, message_id: str | None, client_message_id: str | None,
                 attachments=None) -> dict:
    """The message as webhook events show it: the provider's id, or our crm-… id while it is unknown."""
    return contract.message_event_data(
        chat_id=message.chat.external_id, message_id=message_id, client_message_id=client_message_id,
        direction=message.direction, text=message.text, status=message.status, error=message.status_error,
        seen=message.seen_flag, created_at=contract.utc_timestamp(message.created_at) if message.created_at else None,
        edited_at=contract.utc_timestamp(message.edited_at) if message.edited_at else None,
        attachments=attachments_for_provider(message.attachments.all() if attachments is None else attachments),
        reply_to=message.reply_to_external_id or None)
