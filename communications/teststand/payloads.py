"""Request bodies the stand sends: each endpoint's stand step in the registry (communications/endpoints.py)
fills the production builder (communications/provider_contract.py) with sandbox values, so a provider that
passes the stand gets exactly these shapes later.

The stand calls the endpoints in `plan()` order; later bodies reuse what earlier answers
returned (the channel from getChannels, the provider's message id from sendMessage).

A configuration that declares attachments (`capabilities.attachments`) gets one more step right after
sendMessage: a sendMessage carrying the stand's own sample file as real calls carry attachments
(a signed, expiring `url`, `type`, `name`, `mimeType`, `size`, `checksum`).
"""

import functools
import io
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image

from communications import endpoints as provider_endpoints
from communications import provider_contract as contract

FALLBACK_CHANNEL_ID = "teststand-channel"
OPERATOR_ID = "teststand-operator"


def plan(endpoints: dict) -> list[str]:
    """Endpoint names to call, in the registry's stand order: required ones always, optional ones when
    configured (disconnect last)."""
    return [endpoint.name for endpoint in provider_endpoints.stand_order()
            if endpoint.required or (endpoints or {}).get(endpoint.name)]


# --- the attachment step (issue 21) ---------------------------------------------------------------------

ATTACHMENT_AFTER = "sendMessage"  # the endpoint it calls, right after that endpoint's own checks
ATTACHMENT_STEP = "sendMessage с вложением"  # its name in the run's summary and reasons
ATTACHMENT_MESSAGE = 4  # the stand's 4th message (1: sendMessage, 2 and 3: inside bulkMessages)
SAMPLE_KINDS = ("image", "file", "sticker")  # the types the stand's sample (a small PNG) can be sent as
SAMPLE_NAME = "sbercrm-teststand.png"
ATTACHMENT_CONDITION = "если конфигурация объявляет вложения (capabilities.attachments: true)"
ATTACHMENT_CHECK = (
    "Сообщение с вложением, как в работе: файл-образец стенда (картинка PNG) в attachments — подписанная ссылка url "
    "с ограниченным сроком, type, name, mimeType, size и checksum (SHA-256). Ответ 2xx с messageId (или id). "
    "Файл скачивается по url GET-запросом без авторизации, его SHA-256 равен checksum.")
ATTACHMENT_HINT = (
    "Конфигурация объявляет вложения (capabilities.attachments): принимайте сообщение с attachments так же, как "
    "текстовое; файл скачивается по url (GET без авторизации, ссылка подписана и истекает), его SHA-256 равен "
    "checksum. Если вложения не поддерживаются, уберите capabilities.attachments из конфигурации.")


@functools.cache
def sample_file() -> bytes:
    """The stand's sample attachment: a tiny PNG (an image, a file or a sticker to any provider)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (33, 160, 96)).save(out, "PNG")
    return out.getvalue()


def attachment_kind(configuration) -> str | None:
    """The type the stand sends its sample as: the first the configuration accepts (None: no attachment step)."""
    size = len(sample_file())
    return next((kind for kind in SAMPLE_KINDS if configuration.accepts_attachment(kind, size)), None)


def attachment_skip_note(configuration) -> str:
    """Why a run has no attachment step (Russian, for the summary); '' when it has one."""
    if (configuration.capabilities or {}).get("attachments") is not True:
        return (f"Шаг «{ATTACHMENT_STEP}» не выполнялся: конфигурация не объявляет поддержку вложений "
                "(capabilities.attachments), поэтому вложения этому провайдеру не отправляются.")
    if attachment_kind(configuration) is None:
        return (f"Шаг «{ATTACHMENT_STEP}» не выполнялся: конфигурация не принимает образец стенда (картинку PNG, "
                f"{len(sample_file())} байт) ни как {', ни как '.join(SAMPLE_KINDS)} "
                "(capabilities.attachmentTypes, capabilities.maxAttachmentBytes).")
    return ""


def portal_steps() -> list[dict]:
    """The test-stand page's table: every step in the stand's order, the attachment step after sendMessage."""
    rows = []
    for endpoint in provider_endpoints.stand_order():
        rows.append({"name": endpoint.name, "variant": "", "check": endpoint.stand.check,
                     "condition": "" if endpoint.required else "если указан в конфигурации"})
        if endpoint.name == ATTACHMENT_AFTER:
            rows.append({"name": ATTACHMENT_AFTER, "variant": "с вложением", "check": ATTACHMENT_CHECK,
                         "condition": ATTACHMENT_CONDITION})
    return rows


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
        return f"{'crmb' if n in (2, 3) else 'crm'}-teststand-{self.run_id}-{n}"

    def ids(self) -> dict:
        """Like production: the provider's id once sendMessage returned one, else our client id."""
        if self.provider_message_id:
            return {"message_id": self.provider_message_id, "client_message_id": None}
        return {"message_id": None, "client_message_id": self.client_message_id(1)}

    def send_body(self, n: int, attachments: list[dict] | None = None) -> dict:
        """The stand's n-th sendMessage body (1: sendMessage itself, 2 and 3: inside bulkMessages,
        4: the attachment step, `attachments` built by the production builder)."""
        return contract.send_message_body(
            tenant_id=self.tenant_id, chat_id=self.chat_id, channel_id=self.channel_id,
            client_message_id=self.client_message_id(n), operator_id=OPERATOR_ID, attachments=attachments,
            text=f"Проверка тестового стенда SberCRM №{self.run_id}: сообщение {n}. Ответ не требуется.")


def build(endpoint: str, ctx: RunContext) -> dict:
    """The JSON body the stand sends to `endpoint`."""
    entry = provider_endpoints.endpoint_get(endpoint)
    if entry is None:
        raise ValueError(f"unknown endpoint {endpoint}")
    return entry.stand.build(ctx)
