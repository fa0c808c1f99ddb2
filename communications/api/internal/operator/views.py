"""CRM → module: an operator acts in a tenant's chats (service-authenticated, CRM only).

Thin views: validate, call services/operator.py, serialize. Reads are scoped to the
tenant + provider given in the query; actions are refused with 409 when the tenant's
integration is deactivated or the app is disabled.
"""

from collections.abc import Callable
from functools import wraps

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from communications.api.internal.operator import serializers as s
from communications.api.public.files import PublicUploadSerializer, uploads_limit
from communications.api.public.serializers import PublicErrorSerializer
from communications.selectors.conversations import (
    attachments_by_message,
    chat_get,
    chat_list_for_operator,
    message_list_for_operator,
)
from communications.selectors.providers import provider_get
from communications.services import operator as services
from communications.services.attachments import upload_create
from config.api.permissions import IsCRMService

TAG = "Оператор CRM"
ERRORS = {
    400: OpenApiResponse(PublicErrorSerializer, description="Некорректные данные (поле названо в fields)."),
    401: OpenApiResponse(PublicErrorSerializer, description="Нет сервисного JWT."),
    403: OpenApiResponse(PublicErrorSerializer, description="Вызывающий — не сервис CRM."),
    404: OpenApiResponse(PublicErrorSerializer, description="Провайдер, чат или сообщение не найдены."),
}
ACTION_ERRORS = {**ERRORS, 409: OpenApiResponse(
    PublicErrorSerializer, description="Интеграция деактивирована (integration_inactive) или приложение отключено "
                                       "(integration_disabled); сообщение рассылки ещё не принято провайдером."),
                 422: OpenApiResponse(PublicErrorSerializer, description="Idempotency-Key уже использован с другим "
                                                                         "запросом (idempotency_key_reused).")}
UPLOAD_ERRORS = {
    413: OpenApiResponse(PublicErrorSerializer, description="Файл больше ATTACHMENTS_MAX_UPLOAD_BYTES."),
    415: OpenApiResponse(PublicErrorSerializer, description="Тело не multipart/form-data, или содержимое файла не "
                                                            "соответствует type или mimeType."),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "maxLength": services.IDEMPOTENCY_KEY_MAX_LENGTH, "pattern": "^[ -~]*$"},
    OpenApiParameter.HEADER, required=False,
    description="Повтор с тем же ключом и тем же запросом получает тот же ответ (заголовок Idempotent-Replayed: "
                "true) и ничего не делает повторно; с другим путём или телом — 422 idempotency_key_reused. До 255 "
                "печатных ASCII-символов (например, UUID); ключи у каждого вызывающего свои.")


def operator_action(*, request, responses: dict, provider_lookup: bool = True, validate=None, **doc):
    """An operator action: its body validated by the `request` serializer (the handler gets the data), run once
    per `Idempotency-Key` (`_OperatorView.once`; a validation error is an answer too), documented with that
    header and the action errors (so the view needs no `serializer_class`). `provider_lookup=False`: the data
    keeps `provider_code`, for a service that reads the provider itself. `validate(body)`: gives the `request`
    serializer's validated data by a faster path (its errors are the serializer's own)."""

    def decorate(handler):
        @wraps(handler)
        def run(self, http_request, *args, **kwargs):
            return self.once(http_request, lambda: handler(
                self, self.valid(request, http_request.data, provider_lookup, validate), *args, **kwargs))

        run.request_serializer = request  # what OPTIONS describes

        return extend_schema(tags=[TAG], parameters=[IDEMPOTENCY_KEY], request=request,
                             responses={**responses, **ACTION_ERRORS}, **doc)(run)

    return decorate


class _OperatorView(GenericAPIView):
    permission_classes = [IsCRMService]

    def get_serializer_class(self):
        """The body an action takes (OPTIONS describes it per method), else the view's own serializer."""
        handler = getattr(self, self.request.method.lower(), None)
        return getattr(handler, "request_serializer", None) or super().get_serializer_class()

    def once(self, request, action: Callable[[], Response]) -> Response:
        """`action()` once per `Idempotency-Key` (no header: every time)."""
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return action()
        if len(key) > services.IDEMPOTENCY_KEY_MAX_LENGTH or not (key.isascii() and key.isprintable()):
            raise ValidationError({"Idempotency-Key": [
                f"До {services.IDEMPOTENCY_KEY_MAX_LENGTH} печатных ASCII-символов (например, UUID)."]})

        def run():
            response = action()
            return response.status_code, response.data

        fingerprint = services.request_fingerprint(method=request.method, path=request.path, body=request.data)
        code, body, replayed = services.operator_request_run(caller=request.user, key=key, fingerprint=fingerprint,
                                                             action=run)
        return Response(body, status=code, headers={"Idempotent-Replayed": "true"} if replayed else None)

    def valid(self, serializer_class, data, provider_lookup: bool = True, validate=None) -> dict:
        if validate is not None:
            data = validate(data)
        else:
            serializer = serializer_class(data=data)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
        if provider_lookup:
            data["provider"] = provider_get(code=data.pop("provider_code"), field="providerCode")
        return data

    @staticmethod
    def scope(data: dict) -> dict:
        return {"tenant_id": data.pop("tenant_id"), "provider": data.pop("provider")}


class ChatListView(_OperatorView):
    serializer_class = s.OperatorChatSerializer

    @extend_schema(operation_id="operator_chats_list", tags=[TAG], summary="Чаты тенанта",
                   description="Постранично (page, page_size ≤ 200), новые изменения первыми. Фильтры: канал, "
                               "только с непрочитанными (unread=true), поиск по названию.",
                   parameters=[s.ChatListQuerySerializer],
                   responses={200: s.OperatorChatSerializer(many=True), **ERRORS})
    def get(self, request):
        query = self.valid(s.ChatListQuerySerializer, request.query_params)
        chats = chat_list_for_operator(**self.scope(query), channel_id=query.get("channel_id", ""),
                                       search=query.get("search", ""), unread=query.get("unread"))
        page = self.paginate_queryset(s.OperatorChatRows(chats))
        return self.get_paginated_response([s.operator_chat_data(row) for row in page])


class ChatMessagesView(_OperatorView):
    serializer_class = s.OperatorMessageSerializer

    @extend_schema(operation_id="operator_messages_list", tags=[TAG], summary="Сообщения чата",
                   description="Постранично, новые первыми. Фильтры: направление, статус, since.",
                   parameters=[s.MessageListQuerySerializer],
                   responses={200: s.OperatorMessageSerializer(many=True), **ERRORS})
    def get(self, request, chat_id: str):
        query = self.valid(s.MessageListQuerySerializer, request.query_params)
        scope = self.scope(query)
        chat = chat_get(**scope, chat_id=chat_id)
        page = self.paginate_queryset(message_list_for_operator(
            **scope, chat=chat, direction=query.get("direction", ""), status=query.get("status", ""),
            since=query.get("since")))
        for message in page:
            message.chat = chat
        return self.get_paginated_response(s.operator_messages_data(page, attachments_by_message(page)))

    @operator_action(operation_id="operator_message_send", summary="Отправить сообщение в чат",
                     description="Сохраняет исходящее сообщение и ставит в очередь вызов sendMessage провайдера "
                                 "(по порядку внутри чата). id провайдера из ответа становится externalId.",
                     request=s.MessageSendSerializer, responses={201: s.OperatorMessageSerializer},
                     validate=s.message_send_validated,  # a plain body checked by hand, the same answers
                     provider_lookup=False)  # the service reads the provider with the rest, in one statement
    def post(self, data, chat_id: str):
        message = services.operator_message_send(provider=data.pop("provider_code"), chat_id=chat_id, **data)
        body = (s.OperatorMessageSerializer(message).data if data["attachments"]
                else s.operator_message_data(message))
        return Response(body, status=status.HTTP_201_CREATED)


class ChatReadView(_OperatorView):
    @operator_action(operation_id="operator_chat_read", summary="Отметить чат прочитанным",
                     description="Все непрочитанные сообщения чата → прочитаны; вызов markChatRead провайдера.",
                     request=s.ScopeSerializer, responses={200: s.ChatReadResultSerializer})
    def post(self, data, chat_id: str):
        updated = services.operator_chat_mark_read(**self.scope(data), chat_id=chat_id)
        return Response({"chatId": chat_id, "updated": updated})


class MessageView(_OperatorView):
    @operator_action(operation_id="operator_message_edit", summary="Изменить текст исходящего сообщения",
                     description="Меняет текст и ставит в очередь updateMessageContent — строго после sendMessage "
                                 "этого сообщения.",
                     request=s.MessageEditSerializer, responses={200: s.OperatorMessageSerializer})
    def patch(self, data, message_id: int):
        message = services.operator_message_edit(**self.scope(data), message_id=message_id, text=data["text"])
        return Response(s.OperatorMessageSerializer(message).data)


class MessageStatusView(_OperatorView):
    @operator_action(operation_id="operator_message_status", summary="Установить статус сообщения",
                     description="Меняет статус (история сохраняется) и ставит в очередь updateMessageStatus.",
                     request=s.MessageStatusSerializer, responses={200: s.OperatorMessageSerializer})
    def post(self, data, message_id: int):
        message = services.operator_message_set_status(**self.scope(data), message_id=message_id, **data)
        return Response(s.OperatorMessageSerializer(message).data)


class UploadView(_OperatorView):
    parser_classes = [MultiPartParser]
    serializer_class = s.OperatorUploadSerializer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        uploads_limit(request)

    @extend_schema(operation_id="operator_upload", tags=[TAG], summary="Загрузить файл для вложения",
                   description="multipart/form-data: tenantId, providerCode, file, type?, mimeType?. Проверки и "
                               "лимиты — как у загрузки провайдера (413 сверх ATTACHMENTS_MAX_UPLOAD_BYTES, 415 при "
                               "несоответствии типа). uploadId передайте в attachments при отправке сообщения.",
                   request={"multipart/form-data": s.OperatorUploadSerializer},
                   responses={201: PublicUploadSerializer, **ERRORS, **UPLOAD_ERRORS})
    def post(self, request):
        data = self.valid(s.OperatorUploadSerializer, request.data)
        upload = upload_create(**self.scope(data), fileobj=data["file"], name=data["file"].name or "",
                               kind=data.get("type"), declared_mime=data["mime_type"])
        return Response(PublicUploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class BroadcastView(_OperatorView):
    @operator_action(operation_id="operator_broadcast", summary="Рассылка одного текста в несколько чатов",
                     description="Если у провайдера настроен bulkMessages и чатов больше одного — один вызов "
                                 "bulkMessages; иначе по sendMessage на чат.",
                     request=s.BroadcastSerializer, responses={201: s.BroadcastResultSerializer})
    def post(self, data):
        messages, endpoint = services.operator_broadcast(**self.scope(data), **data)
        return Response({"endpoint": endpoint, "messages": s.OperatorMessageSerializer(messages, many=True).data},
                        status=status.HTTP_201_CREATED)
