"""Public API for providers (`/api/v1/`). Thin: validate, call a service, serialize.

Every view authenticates the tenant's integration token and works only inside that
token's tenant + provider; path ids are the provider's external ids.
"""

from django.core.exceptions import RequestDataTooBig
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from communications.api.public import serializers as s
from communications.api.public.limits import MAX_BODY_BYTES
from communications.api.public.message_items import validate_message
from communications.authentication import IntegrationTokenAuthentication
from communications.models import Participant
from communications.selectors import conversations as selectors
from communications.services import conversations as services
from communications.services import inbound
from config.api.parsers import SafeJSONParser

TAG_CHANNELS, TAG_CHATS, TAG_MESSAGES, TAG_WEBHOOKS, TAG_BULK = (
    "Каналы", "Чаты", "Сообщения", "Вебхуки", "Массовые операции")


def _error(description: str, code: str, message: str, fields: dict | None = None) -> OpenApiResponse:
    body = {"error": {"code": code, "message": message, **({"fields": fields} if fields else {})}}
    return OpenApiResponse(s.PublicErrorSerializer, description=description,
                           examples=[OpenApiExample(code, value=body, response_only=True)])


ERR_400 = _error("Некорректные данные (ошибки по полям в error.fields).", "validation_error",
                 "Некорректные данные запроса.", {"text": ["Это поле обязательно."]})
ERR_401 = _error("Нет токена, токен недействителен, истёк или деактивирован, интеграция или провайдер отключены.",
                 "token_inactive", "Токен деактивирован.")
ERR_409 = _error("Повтор POST с тем же id, но другим телом (id_conflict), или PATCH с changedAt старше уже "
                 "применённого изменения (stale_update). Ничего не изменено.", "id_conflict",
                 "Сообщение с таким id уже есть, и тело запроса отличается от первого.",
                 {"id": ["Сообщение с таким id уже есть, и тело запроса отличается от первого."]})
ERR_404 = _error("Объект не найден у этого тенанта и провайдера.", "not_found", "Чат не найден.")
ERR_413 = _error("Тело запроса больше 2 МБ.", "payload_too_large", "Тело запроса больше 2097152 байт.")
ERR_429 = _error("Превышен лимит запросов.", "throttled", "Запрос был проигнорирован.")
ERR_415 = _error("Content-Type тела не application/json.", "unsupported_media_type",
                 "Неподдерживаемый тип данных «text/plain» в запросе.")
COMMON_ERRORS = {400: ERR_400, 401: ERR_401, 413: ERR_413, 415: ERR_415, 429: ERR_429}
WITH_404 = {**COMMON_ERRORS, 404: ERR_404}
WITH_409 = {**COMMON_ERRORS, 409: ERR_409}
WITH_404_409 = {**WITH_404, 409: ERR_409}
REPEAT_RULE = ("Повтор с тем же id и тем же телом возвращает существующий объект без изменений (200); тот же id с "
               "другим телом — 409 id_conflict; изменения — через PATCH.")
# Operations without a request body: any body over 2 MB still answers 413.
NO_BODY_ERRORS = {401: ERR_401, 404: ERR_404, 413: ERR_413, 429: ERR_429}

PARTICIPANTS_EXAMPLE = [{"id": "user-42", "name": "Иван Петров", "username": "ivan", "phone": "+79990000000"},
                        {"id": "bot-1", "name": "Поддержка"}]
CHAT_EXAMPLE = {"id": "chat-1001", "channelId": "tg-bot-1", "title": "Иван Петров", "type": "private",
                "participants": PARTICIPANTS_EXAMPLE}
MESSAGE_EXAMPLE = {"id": "msg-5001", "chat": CHAT_EXAMPLE, "direction": "incoming",
                   "text": "Здравствуйте! <b>Не</b> форматируйте *это* & \"это\"", "senderId": "user-42",
                   "sentAt": "2026-11-20T10:15:00Z"}

# Response examples (what the serializers return for the request examples above).
_AT = "2026-11-20T10:15:01Z"
CHANNEL_OUT = {"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки", "displayName": "Telegram",
               "iconUrl": "/static/communications/channels/telegram.svg", "known": True, "active": True,
               "metadata": {}, "connectedAt": _AT}
CHAT_OUT = {"id": "chat-1001", "channelId": "tg-bot-1", "title": "Иван Петров", "type": "private", "metadata": {},
            "participants": [{"id": "bot-1", "name": "Поддержка", "username": "", "phone": "", "metadata": {}},
                             {"id": "user-42", "name": "Иван Петров", "username": "ivan", "phone": "+79990000000",
                              "metadata": {}}],
            "createdAt": _AT, "updatedAt": _AT}
MESSAGE_OUT = {"id": "msg-5001", "chatId": "chat-1001", "direction": "incoming", "text": MESSAGE_EXAMPLE["text"],
               "senderId": "user-42", "seen": False, "status": "sent", "error": "",
               "sentAt": "2026-11-20T10:15:00Z", "createdAt": _AT, "editedAt": None}
WEBHOOK_OUT = {"url": "https://provider.example/sbercrm/events", "events": ["message.created", "chat.seen"],
               "createdAt": _AT, "updatedAt": _AT}


def _ok(name: str, value, *codes: int) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(c) for c in codes or (200,)])


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = f"Тело запроса больше {MAX_BODY_BYTES} байт."


class PublicAPIView(APIView):
    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [SafeJSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: strangers get 401, not 413
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise PayloadTooLarge()

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):  # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE)
            exc = PayloadTooLarge()
        return super().handle_exception(exc)

    @property
    def scope(self) -> dict:
        """The caller's tenant + provider: the only rows this request may touch."""
        return {"tenant_id": self.request.user.tenant_id, "provider": self.request.user.provider}

    def validated(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _prose(text: str) -> str:
    """A description written here as a paragraph, one line in the schema."""
    return " ".join(text.split())


def _created_or_ok(created: bool) -> int:
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


def _channel_data(channel) -> dict:
    return s.PublicChannelSerializer(channel).data


def _chat_data(chat) -> dict:
    # one query for the response, however many participants
    chat = type(chat).objects.select_related("channel").prefetch_related(
        Prefetch("participants", queryset=Participant.objects.order_by("id"))).get(pk=chat.pk)
    return s.PublicChatSerializer(chat).data


def _message_data(message) -> dict:
    return s.public_message_data(message)


def _create(create, answer, *, request, response, validate=None, **doc):
    """The POST of a new channel, chat or message, documented by `doc`: the body validated by the `request`
    serializer (or by `validate(body)` with the same rules) goes to `create(scope, data)`, which returns (object,
    created); the answer is `answer(object)` (the `response` schema): 201 when it was created, 200 when the same
    body came before."""

    def post(self, http_request):
        data = validate(http_request.data) if validate else self.validated(request)
        obj, created = create(self.scope, data)
        return Response(answer(obj), status=_created_or_ok(created))

    return extend_schema(request=request, responses={201: response, 200: response, **WITH_409}, **doc)(post)


def _update(name: str, get, update, answer, **doc):
    """The handler of every change to one public object (PATCH of a channel, a chat or a message; POST of a
    message status), documented by `doc`. `get` finds the caller's object by the id in the path (`chatId` →
    `chat_get(chat_id=…)`) before the body is read, so an unknown id is a 404 whatever the body; then the body,
    validated by the `request` serializer, goes to `update(chat=obj, data=…)`; the answer is `answer(result)`."""

    def handler(self, request, **path):
        (external_id,) = path.values()
        obj = get(**self.scope, **{f"{name}_id": external_id})
        return Response(answer(update(**{name: obj}, data=self.validated(doc["request"]))))

    return extend_schema(**doc)(handler)


def _message_update_text(*, message, data: dict):
    return services.message_update_text(message=message, text=data["text"], changed_at=data.get("changed_at"))


def _message_set_status(*, message, data: dict):
    return services.message_set_status(message=message, status=data["status"], error=data["error"])


class ChannelListView(PublicAPIView):
    post = _create(
        lambda scope, data: services.channel_post(**scope, **data), _channel_data,
        operation_id="channels_connect", tags=[TAG_CHANNELS], summary="Подключить канал",
        description=_prose(f"""Создаёт канал и дочерний аккаунт под основным аккаунтом тенанта у провайдера или
            повторно активирует отключённый. Код канала сохраняется как передан; для неизвестных кодов
            используется иконка-заглушка. 201 — канал создан, 200 — канал уже был (активирован, данные не
            меняются). {REPEAT_RULE}"""),
        request=s.PublicChannelConnectSerializer, response=s.PublicChannelSerializer,
        examples=[OpenApiExample("Канал Telegram", request_only=True,
                                 value={"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки"}),
                  _ok("Подключённый канал", CHANNEL_OUT, 201, 200)])


class ChannelDetailView(PublicAPIView):
    patch = _update(
        "channel", selectors.channel_get, services.channel_update, _channel_data,
        operation_id="channels_update", tags=[TAG_CHANNELS], summary="Изменить канал",
        description=_prose("""Меняет переданные name и metadata. Код канала (мессенджер) не меняется: другой
            мессенджер — другой канал."""),
        request=s.PublicChannelUpdateSerializer, responses={200: s.PublicChannelSerializer, **WITH_404},
        examples=[OpenApiExample("Новое название", request_only=True, value={"name": "Бот продаж"}),
                  _ok("Канал", {**CHANNEL_OUT, "name": "Бот продаж"})])

    @extend_schema(
        operation_id="channels_disconnect", tags=[TAG_CHANNELS], summary="Отключить канал",
        description="Деактивирует дочерний аккаунт канала. Чаты и сообщения сохраняются. Повторный вызов — тоже 204.",
        request=None, responses={204: OpenApiResponse(description="Канал отключён."), **NO_BODY_ERRORS},
    )
    def delete(self, request, channelId: str):
        channel = selectors.channel_get(**self.scope, channel_id=channelId)
        services.channel_disconnect(channel=channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatListView(PublicAPIView):
    post = _create(
        lambda scope, data: services.chat_create(**scope, chat=data), _chat_data,
        operation_id="chats_create", tags=[TAG_CHATS], summary="Создать чат",
        description=_prose(f"""Создаёт чат со всеми участниками. {REPEAT_RULE} Чат, созданный сообщением,
            сравнивается с объектом chat того сообщения."""),
        request=s.PublicChatCreateSerializer, response=s.PublicChatSerializer,
        examples=[OpenApiExample("Личный чат", request_only=True, value=CHAT_EXAMPLE),
                  _ok("Чат", CHAT_OUT, 201, 200)])


class ChatDetailView(PublicAPIView):
    patch = _update(
        "chat", selectors.chat_get, services.chat_update, _chat_data,
        operation_id="chats_update", tags=[TAG_CHATS], summary="Обновить информацию о чате",
        description=_prose("""Меняет переданные поля чата. participants добавляет новых участников и обновляет
            данные существующих (по id); никого не удаляет. changedAt (необязательно) — время изменения у
            провайдера: если уже применено более новое, ответ 409 stale_update и ничего не меняется."""),
        request=s.PublicChatUpdateSerializer, responses={200: s.PublicChatSerializer, **WITH_404_409},
        examples=[OpenApiExample("Новое название", request_only=True, value={"title": "Иван Петров (VIP)"}),
                  _ok("Обновлённый чат", {**CHAT_OUT, "title": "Иван Петров (VIP)"})])


class ChatSeenView(PublicAPIView):
    @extend_schema(
        operation_id="chats_seen", tags=[TAG_CHATS], summary="Отметить чат прочитанным",
        description=_prose("""Все непрочитанные сообщения чата получают seen_flag = true (одним UPDATE). Тело
            запроса не нужно."""),
        request=None, responses={200: s.PublicChatSeenSerializer, **NO_BODY_ERRORS},
        examples=[_ok("Отмечено", {"chatId": "chat-1001", "updated": 3})],
    )
    def post(self, request, chatId: str):
        chat = selectors.chat_get(**self.scope, chat_id=chatId)
        updated = services.chat_mark_seen(chat=chat)
        return Response({"chatId": chat.external_id, "updated": updated})


class MessageListView(PublicAPIView):
    post = _create(
        lambda scope, data: services.message_create(**scope, data=data), _message_data,
        operation_id="messages_create", tags=[TAG_MESSAGES], summary="Создать сообщение",
        description=_prose(f"""Сохраняет сообщение. Чат ищется по chat.id; если его нет, создаётся вместе со всеми
            участниками из объекта chat (существующий чат не меняется). Текст сохраняется как есть (форматирование
            не поддерживается). {REPEAT_RULE}"""),
        request=s.PublicMessageCreateSerializer, response=s.PublicMessageSerializer,
        examples=[OpenApiExample("Входящее сообщение в новый чат", request_only=True, value=MESSAGE_EXAMPLE),
                  _ok("Сообщение", MESSAGE_OUT, 201, 200)],
        validate=validate_message)  # the serializer's rules without building it for a plain body


class MessageDetailView(PublicAPIView):
    patch = _update(
        "message", selectors.message_get, _message_update_text, _message_data,
        operation_id="messages_update_text", tags=[TAG_MESSAGES], summary="Обновить текст сообщения",
        description=_prose("""Заменяет только текст; остальные атрибуты не меняются (другие поля в теле — ошибка
            400). Прежний текст и время правки сохраняются в истории. changedAt (необязательно) — время правки у
            провайдера: если уже применена более новая, ответ 409 stale_update и текст не меняется."""),
        request=s.PublicMessageUpdateSerializer, responses={200: s.PublicMessageSerializer, **WITH_404_409},
        examples=[OpenApiExample("Исправленный текст", request_only=True, value={"text": "Здравствуйте, Иван!"}),
                  _ok("Сообщение с новым текстом", {**MESSAGE_OUT, "text": "Здравствуйте, Иван!", "editedAt": _AT})])


class MessageStatusView(PublicAPIView):
    post = _update(
        "message", selectors.message_get, _message_set_status, _message_data,
        operation_id="messages_set_status", tags=[TAG_MESSAGES], summary="Обновить статус сообщения",
        description=_prose("""Устанавливает переданный статус: sent (отправлено), delivered (доставлено), read
            (прочитано), failed (ошибка, с обязательным описанием error). Статус движется только вперёд: sent →
            delivered → read; failed — окончательный. Устаревший или повторный статус — 200 с текущим состоянием
            сообщения, ничего не меняется. Каждая смена пишется в историю статусов."""),
        request=s.PublicMessageStatusSerializer, responses={200: s.PublicMessageSerializer, **WITH_404},
        examples=[OpenApiExample("Доставлено", request_only=True, value={"status": "delivered"}),
                  OpenApiExample("Ошибка", request_only=True,
                                 value={"status": "failed", "error": "Пользователь заблокировал бота"}),
                  _ok("Сообщение со статусом", {**MESSAGE_OUT, "status": "delivered"})])


class WebhookView(PublicAPIView):
    @extend_schema(
        operation_id="webhooks_set", tags=[TAG_WEBHOOKS], summary="Установить вебхук",
        description=_prose("""Один вебхук на тенанта и провайдера. Создание (201) возвращает секрет подписи один
            раз. Повторная установка (200) меняет URL и события и сохраняет секрет; rotateSecret=true выпускает и
            возвращает новый. События подписываются по схеме Standard Webhooks."""),
        request=s.PublicWebhookSetSerializer,
        responses={201: s.PublicWebhookCreatedSerializer, 200: s.PublicWebhookCreatedSerializer, **COMMON_ERRORS},
        examples=[OpenApiExample("Вебхук", request_only=True, value={
            "url": "https://provider.example/sbercrm/events", "events": ["message.created", "chat.seen"]}),
                  _ok("Вебхук создан (секрет показан один раз)",
                      {**WEBHOOK_OUT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, 201),
                  _ok("Вебхук обновлён", WEBHOOK_OUT, 200)],
    )
    def post(self, request):
        data = self.validated(s.PublicWebhookSetSerializer)
        webhook, created, secret = services.webhook_set(**self.scope, **data)
        body = s.PublicWebhookSerializer(webhook).data
        if secret:
            body["secret"] = secret
        return Response(body, status=_created_or_ok(created))

    @extend_schema(operation_id="webhooks_get", tags=[TAG_WEBHOOKS], summary="Получить текущий вебхук",
                   description="URL и события. Секрет не возвращается.",
                   responses={200: s.PublicWebhookSerializer, **NO_BODY_ERRORS},
                   examples=[_ok("Вебхук", WEBHOOK_OUT)])
    def get(self, request):
        return Response(s.PublicWebhookSerializer(selectors.webhook_get(**self.scope)).data)

    @extend_schema(operation_id="webhooks_delete", tags=[TAG_WEBHOOKS], summary="Удалить вебхук", request=None,
                   responses={204: OpenApiResponse(description="Вебхук удалён."), **NO_BODY_ERRORS})
    def delete(self, request):
        services.webhook_delete(webhook=selectors.webhook_get(**self.scope))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BulkMessagesView(PublicAPIView):
    json_item_lists = ("messages",)  # the parser leaves their text to inbound.messages_import

    @extend_schema(
        operation_id="bulk_messages_create", tags=[TAG_BULK], summary="Пакетная загрузка сообщений",
        description=_prose("""От 1 до 100 сообщений (формат как у POST /messages). Каждое обрабатывается
            независимо: ошибка в одном не отклоняет остальные. Ответ 200 перечисляет результат по каждому: index,
            id и result = created / duplicate (тот же id и то же тело) / error (с ошибками по полям; тот же id с
            другим телом — ошибка поля id)."""),
        request=s.PublicBulkMessagesSerializer,
        responses={200: s.PublicBulkMessagesResultSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample("Два сообщения", request_only=True, value={"messages": [
                MESSAGE_EXAMPLE, {**MESSAGE_EXAMPLE, "id": "msg-5002", "text": "Ещё одно"}]}),
            OpenApiExample("Результат", response_only=True, value={
                "results": [{"index": 0, "id": "msg-5001", "result": "created"},
                            {"index": 1, "id": "msg-5002", "result": "error",
                             "errors": {"text": ["Это поле обязательно."]}}],
                "created": 1, "duplicates": 0, "errors": 1}),
        ],
    )
    def post(self, request):
        items = self.validated(s.PublicBulkMessagesEnvelopeSerializer)["messages"]
        ordered = inbound.messages_import(**self.scope, items=items, conflicts=True)
        body = {
            "results": [{"index": r.index, "id": r.id, "result": r.result, **({"errors": r.errors} if r.errors else {})}
                        for r in ordered],
            "created": sum(r.result == "created" for r in ordered),
            "duplicates": sum(r.result == "duplicate" for r in ordered),
            "errors": sum(r.result == "error" for r in ordered),
        }
        return Response(body)
