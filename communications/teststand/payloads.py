"""Request bodies the stand sends: each endpoint's stand step in the registry (communications/endpoints.py)
fills the production builder (communications/provider_contract.py) with sandbox values, so a provider that
passes the stand gets exactly these shapes later.

The stand calls the endpoints in `plan()` order; later bodies reuse what earlier answers
returned (the channel from getChannels, the provider's message id from sendMessage).
"""

from dataclasses import dataclass, field

from django.conf import settings

from communications import endpoints as provider_endpoints
from communications import provider_contract as contract

FALLBACK_CHANNEL_ID = "teststand-channel"
OPERATOR_ID = "teststand-operator"


def plan(endpoints: dict) -> list[str]:
    """Endpoint names to call, in the registry's stand order: required ones always, optional ones when
    configured (disconnect last)."""
    return [endpoint.name for endpoint in provider_endpoints.stand_order()
            if endpoint.required or (endpoints or {}).get(endpoint.name)]


@dataclass
class RunContext:
    tenant_id: str
    run_id: int
    channel_id: str = FALLBACK_CHANNEL_ID
    provider_message_id: str = ""
    public_api_url: str = field(default_factory=lambda: settings.COMMUNICATIONS_PUBLIC_API_URL)
    history_page_size: int = field(default_factory=lambda: settings.INITIAL_SYNC_PAGE_SIZE)
    disconnect_reason: str = "token_deactivated"  # the sandbox integration ends like a deactivated token

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

    def send_body(self, n: int) -> dict:
        """The stand's n-th sendMessage body (1: sendMessage itself, 2 and 3: inside bulkMessages)."""
        return contract.send_message_body(
            tenant_id=self.tenant_id, chat_id=self.chat_id, channel_id=self.channel_id,
            client_message_id=self.client_message_id(n), operator_id=OPERATOR_ID,
            text=f"Проверка тестового стенда SberCRM №{self.run_id}: сообщение {n}. Ответ не требуется.")


def build(endpoint: str, ctx: RunContext) -> dict:
    """The JSON body the stand sends to `endpoint`."""
    entry = provider_endpoints.endpoint_get(endpoint)
    if entry is None:
        raise ValueError(f"unknown endpoint {endpoint}")
    return entry.stand.build(ctx)
