"""The one registry of provider endpoints: every endpoint the module can call, declared once.

An entry names the endpoint, says whether a configuration must have it, carries its example
request and answer and the portal's Russian texts, checks a 2xx answer against the contract and
describes the test stand's call. These all read the registry, and none keeps its own list:
- configuration validation (services/providers.py);
- the delivery engine's enqueue (services/deliveries.py);
- the portal (portal/views.py, portal/content.py);
- the test stand (teststand/payloads.py, teststand/contract.py);
- the fake provider (config/testing/fake_provider.py).

Adding an optional endpoint takes a body builder in provider_contract.py, an entry here and a test.

No Django import here: the fake provider reads this module outside Django (bench/run.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from communications import provider_contract as contract


class Phase(IntEnum):
    """When the test stand calls an endpoint. A run goes phase by phase, in registry order within each."""

    CORE = 1  # the required conversation calls
    OPTIONAL = 2  # the optional endpoints the configuration has
    CLEANUP = 3  # undoes what an optional call set up (deleteWebhook after setWebhook)
    LAST = 4  # disconnect: after it, the sandbox tenant calls nothing


@dataclass(frozen=True)
class StandStep:
    """The test stand's call of one endpoint (communications/teststand/)."""

    build: Callable  # (payloads.RunContext) -> the JSON body, from the production builder with sandbox values
    check: str  # what the stand checks, for the portal's test-stand page (Russian)
    phase: Phase = Phase.OPTIONAL
    # answer -> the ids it names. When set, the stand repeats the call with the same Idempotency-Key and
    # the repeat must name the same ids (a second effect is a verdict).
    repeat_ids: Callable | None = None
    learn: Callable | None = None  # (RunContext, answer): keep what later calls reuse


ANY_2XX = "Любой ответ 2xx; тело не читается."


def no_answer_problem(body, sent: dict) -> str:
    """Any 2xx answer will do: the module does not read its body."""
    return ""


@dataclass(frozen=True)
class Endpoint:
    name: str
    required: bool
    title: str  # portal: the section heading (Russian)
    when: str  # portal: when the module calls it (Russian)
    example_request: dict  # built by the same provider_contract builder the real service uses
    stand: StandStep
    # The answer. By default any 2xx will do and its body is not read.
    response_note: str = ANY_2XX  # portal: what the answer must carry (Russian)
    example_response: dict = field(default_factory=lambda: contract.OK_ANSWER)  # the fake provider's default answer
    # (answer JSON, the body sent) -> '' when a 2xx answer matches the contract, else what is wrong (Russian)
    answer_problem: Callable = no_answer_problem


_REGISTRY: dict[str, Endpoint] = {}


def register(endpoint: Endpoint) -> Endpoint:
    if endpoint.name in _REGISTRY:
        raise ValueError(f"provider endpoint {endpoint.name!r} is already registered")
    _REGISTRY[endpoint.name] = endpoint
    return endpoint


def unregister(name: str) -> None:
    """For tests that register an endpoint of their own."""
    del _REGISTRY[name]


def endpoint_list() -> list[Endpoint]:
    """Every endpoint in registry order, the order of the portal's reference."""
    return list(_REGISTRY.values())


def endpoint_get(name: str) -> Endpoint | None:
    return _REGISTRY.get(name)


def endpoint_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def required_names() -> tuple[str, ...]:
    return tuple(name for name, endpoint in _REGISTRY.items() if endpoint.required)


def optional_names() -> tuple[str, ...]:
    return tuple(name for name, endpoint in _REGISTRY.items() if not endpoint.required)


def stand_order() -> list[Endpoint]:
    """Every endpoint in the order the test stand calls them."""
    return sorted(_REGISTRY.values(), key=lambda endpoint: endpoint.stand.phase)


def example_requests() -> dict[str, dict]:
    return {endpoint.name: endpoint.example_request for endpoint in _REGISTRY.values()}


def example_responses() -> dict[str, dict]:
    return {endpoint.name: endpoint.example_response for endpoint in _REGISTRY.values()}


# --- answer checks ---------------------------------------------------------------------------------

def _message_id_problem(body, sent: dict) -> str:
    if not contract.answer_message_id(body):
        return "Ответ sendMessage должен быть JSON-объектом с непустым messageId (id сообщения у провайдера)."
    return ""


def _channels_problem(body, sent: dict) -> str:
    channels = body.get("channels") if isinstance(body, dict) else None
    if not isinstance(channels, list):
        return "Ответ getChannels должен быть JSON-объектом с массивом channels."
    for index, channel in enumerate(channels):
        if not (isinstance(channel, dict) and isinstance(channel.get("id"), str) and channel["id"]
                and isinstance(channel.get("code"), str) and channel["code"]):
            return f"channels[{index}]: у канала должны быть непустые строки id и code."
    return ""


def _bulk_problem(body, sent: dict) -> str:
    results = body.get("results") if isinstance(body, dict) else None
    expected = len(sent.get("messages") or [])
    if not isinstance(results, list) or len(results) != expected:
        return f"Ответ bulkMessages должен содержать results — по элементу на каждое из {expected} сообщений."
    if not all(isinstance(item, dict) and contract.answer_message_id({"messageId": item.get("messageId")})
               for item in results):
        return "Каждый элемент results в ответе bulkMessages должен содержать messageId."
    return ""


def _history_problem(body, sent: dict) -> str:
    if not (isinstance(body, dict) and isinstance(body.get("messages"), list)):
        return "Ответ getMessageHistory должен быть JSON-объектом с массивом messages."
    cursor = body.get("nextCursor")
    if cursor is not None and not isinstance(cursor, str):
        return "nextCursor в ответе getMessageHistory должен быть строкой или null."
    return ""


def _bulk_ids(answer) -> list[str]:
    return [contract.answer_message_id(item) for item in answer.get("results", [])]


def _learn_channel(ctx, answer) -> None:
    if answer.get("channels"):
        ctx.channel_id = answer["channels"][0]["id"]


def _learn_message_id(ctx, answer) -> None:
    ctx.provider_message_id = str(answer.get("messageId") or answer.get("id"))


# --- the endpoints, in the order of the portal's reference -----------------------------------------

_T = contract.EXAMPLE_TENANT
_SEND = contract.EXAMPLE_SEND_MESSAGE

register(Endpoint(
    "getChannels", required=True, title="Список каналов",
    when="При активации токена клиента: по ответу создаются каналы и дочерние аккаунты тенанта (по одному на канал).",
    response_note="Обязательное поле channels — массив {id, code, name?, metadata?}; code — из таблицы каналов.",
    example_request=contract.get_channels_body(tenant_id=_T),
    example_response={"channels": [{"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки",
                                    "metadata": {"username": "acme_support_bot"}}]},
    answer_problem=_channels_problem,
    stand=StandStep(lambda ctx: contract.get_channels_body(tenant_id=ctx.tenant_id),
                    "Ответ 2xx с массивом channels, у каждого канала есть id и code.",
                    phase=Phase.CORE, learn=_learn_channel),
))
register(Endpoint(
    "sendMessage", required=True, title="Отправка сообщения",
    when="Оператор отправил сообщение клиенту из SberCRM. clientMessageId — наш временный ID (crm-…), "
         "operatorId — ID оператора или null.",
    response_note="Обязательно верните ваш ID сообщения в messageId (или id): по нему придут правки и статусы.",
    example_request=_SEND,
    example_response={"messageId": "prov-9f2c"},
    answer_problem=_message_id_problem,
    stand=StandStep(lambda ctx: ctx.send_body(1),
                    "Ответ 2xx с messageId (или id). Затем тот же вызов с тем же Idempotency-Key: должен вернуться "
                    "тот же messageId.",
                    phase=Phase.CORE, repeat_ids=contract.answer_message_id, learn=_learn_message_id),
))
register(Endpoint(
    "updateMessageContent", required=True, title="Обновление текста сообщения",
    when="Оператор исправил текст отправленного сообщения. messageId — ваш ID; null, только если вы не вернули его "
         "на sendMessage, тогда сообщение называет clientMessageId.",
    example_request=contract.update_content_body(tenant_id=_T, chat_id="chat-1001", message_id="prov-9f2c",
                                                 client_message_id=None, text="Ваш заказ №123 передан в доставку"),
    stand=StandStep(lambda ctx: contract.update_content_body(
        tenant_id=ctx.tenant_id, chat_id=ctx.chat_id, **ctx.ids(),
        text=f"Проверка тестового стенда SberCRM №{ctx.run_id}: исправленный текст."),
        "Правка текста сообщения, отправленного шагом sendMessage (без вложения): ответ 2xx.", phase=Phase.CORE),
))
register(Endpoint(
    "updateMessageStatus", required=True, title="Обновление статуса сообщения",
    when="Оператор изменил статус сообщения: status — sent, delivered, read или failed; error — только для failed, "
         "иначе null. messageId/clientMessageId — как в updateMessageContent.",
    example_request=contract.update_status_body(tenant_id=_T, chat_id="chat-1001", message_id="prov-9f2c",
                                                client_message_id=None, status="failed",
                                                error="Клиент заблокировал бота"),
    stand=StandStep(lambda ctx: contract.update_status_body(tenant_id=ctx.tenant_id, chat_id=ctx.chat_id,
                                                            **ctx.ids(), status="read"),
                    "Смена статуса этого сообщения: ответ 2xx.", phase=Phase.CORE),
))
register(Endpoint(
    "markChatRead", required=True, title="Прочтение сообщений в чате",
    when="Оператор отметил чат прочитанным: все сообщения чата прочитаны.",
    example_request=contract.mark_chat_read_body(tenant_id=_T, chat_id="chat-1001", channel_id="tg-bot-1"),
    stand=StandStep(lambda ctx: contract.mark_chat_read_body(tenant_id=ctx.tenant_id, chat_id=ctx.chat_id,
                                                             channel_id=ctx.channel_id),
                    "Прочтение чата: ответ 2xx.", phase=Phase.CORE),
))
register(Endpoint(
    "setWebhook", required=False, title="Установка вебхука",
    when="После активации токена, если эндпоинт указан в конфигурации: url — базовый адрес публичного API SberCRM "
         "для ваших вызовов (с токеном интеграции тенанта), events — что присылать нам.",
    example_request=contract.set_webhook_body(tenant_id=_T, url=contract.EXAMPLE_PUBLIC_API_URL),
    stand=StandStep(lambda ctx: contract.set_webhook_body(tenant_id=ctx.tenant_id, url=ctx.public_api_url),
                    "Установка вебхука (url — адрес публичного API SberCRM): ответ 2xx."),
))
register(Endpoint(
    "deleteWebhook", required=False, title="Удаление вебхука",
    when="При деактивации токена или отключении приложения, перед disconnect.",
    example_request=contract.delete_webhook_body(tenant_id=_T),
    stand=StandStep(lambda ctx: contract.delete_webhook_body(tenant_id=ctx.tenant_id),
                    "Удаление вебхука, перед disconnect: ответ 2xx.", phase=Phase.CLEANUP),
))
register(Endpoint(
    "getMessageHistory", required=False, title="Загрузка истории сообщений",
    when="Первичная синхронизация после активации токена: cursor = null для первой страницы, затем nextCursor "
         "предыдущего ответа; limit — размер страницы.",
    response_note="Сообщения — в формате POST /api/v1/messages; пустая страница или nextCursor = null завершает "
                  "загрузку. Импорт идемпотентен: повтор страницы ничего не дублирует. Страница может быть меньше "
                  "limit; ответ — не больше 8 МБ по умолчанию (больший ответ запрашивается снова с вдвое меньшим limit).",
    example_request=contract.message_history_body(tenant_id=_T, cursor=None, limit=1000),
    example_response={
        "messages": [{"id": "msg-4001", "chat": {"id": "chat-1001", "channelId": "tg-bot-1",
                                                 "participants": [{"id": "user-42", "name": "Анна"}]},
                      "direction": "incoming", "text": "Где мой заказ?", "senderId": "user-42",
                      "sentAt": "2026-11-01T09:00:00Z"}],
        "nextCursor": "1000",
    },
    answer_problem=_history_problem,
    stand=StandStep(lambda ctx: contract.message_history_body(tenant_id=ctx.tenant_id, cursor=None,
                                                              limit=ctx.history_page_size),
                    "Первая страница истории: ответ 2xx с массивом messages и nextCursor (строка или null)."),
))
register(Endpoint(
    "bulkMessages", required=False, title="Пакетная отправка сообщений",
    when="Рассылка оператора в 2–100 чатов, если эндпоинт указан: один вызов вместо нескольких sendMessage; "
         "messages — тела sendMessage.",
    response_note="По результату на каждое сообщение: index (позиция в messages) и ваш messageId.",
    example_request=contract.bulk_messages_body(tenant_id=_T, messages=[
        {**_SEND, "clientMessageId": "crmb-1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
        {**_SEND, "chatId": "chat-1002", "clientMessageId": "crmb-6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"},
    ]),
    example_response={"results": [{"index": 0, "messageId": "prov-9f2d"}, {"index": 1, "messageId": "prov-9f2e"}]},
    answer_problem=_bulk_problem,
    stand=StandStep(lambda ctx: contract.bulk_messages_body(tenant_id=ctx.tenant_id,
                                                            messages=[ctx.send_body(2), ctx.send_body(3)]),
                    "Рассылка из двух сообщений: ответ 2xx с results — messageId на каждое сообщение. Затем тот же "
                    "вызов с тем же Idempotency-Key: должны вернуться те же messageId.",
                    repeat_ids=_bulk_ids),
))
register(Endpoint(
    "disconnect", required=True, title="Отключение приложения",
    when="Тенант деактивировал токен или отключил приложение в маркетплейсе. После этого вызова мы больше "
         "не обращаемся к вам по этому тенанту.",
    response_note="Любой ответ 2xx. reason: token_deactivated или app_disabled.",
    example_request=contract.disconnect_body(tenant_id=_T, reason="token_deactivated"),
    stand=StandStep(lambda ctx: contract.disconnect_body(tenant_id=ctx.tenant_id, reason=ctx.disconnect_reason),
                    "Последним: ответ 2xx. После него песочный тенант больше не вызывает провайдера.",
                    phase=Phase.LAST),
))
