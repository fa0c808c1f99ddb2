"""Thin API views. `send` and `subscribe` answer with the spec's bodies
`{"status": ..., "message": ...}` for every status, including auth errors;
400/404 add `errors` naming the field and the reason."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ConflictError, ForbiddenError, NotFoundError
from config.api.permissions import SERVICE_NOTIFICATIONS, IsNotificationsService, user_in_group
from config.api.schema import error_responses
from config.auth import VersionedJWTAuthentication as JWTAuthentication  # token-version check
from notifications import services
from notifications.api import serializers as s
from notifications.auth import RecipientTokenAuthentication, request_recipient_id
from notifications.models import Notification, PreferenceSource, Recipient, StatusCallback
from notifications.selectors import notification_status_get, recipient_get
from notifications.services.preferences import PreferenceChangeRequest, preferences_matrix

SEND_MESSAGES = {
    200: "Notification sent successfully.",
    400: "Invalid request format or service.",
    404: "User not found or UUID not linked.",
    500: "Failed to send notification.",
}
SUBSCRIBE_MESSAGES = {
    200: "Successfully subscribed to notifications.",
    400: "Invalid request format or parameters.",
    404: "User not found.",
    409: "Device already registered with a different user.",
    500: "Failed to process the subscription.",
}
UNSUBSCRIBE_MESSAGES = {
    200: "Successfully unsubscribed from notifications.",
    400: SUBSCRIBE_MESSAGES[400],
    404: "User not found.",
    500: "Failed to process the subscription.",
}
ACCEPTED_MESSAGE = "Notification accepted for delivery."
# Error codes whose spec-style message differs from the status default.
CODE_MESSAGES = {"device_not_found": "Device not found."}


class IsNotificationsServiceOrRecipient(BasePermission):
    """A `service:notifications` account, or a recipient token (checked against user_id in the view)."""

    message = "Требуется сервисный токен или токен пользователя."

    def has_permission(self, request, view):
        return request_recipient_id(request) is not None or user_in_group(request.user, SERVICE_NOTIFICATIONS)


def ensure_same_recipient(request, recipient_id) -> None:
    """A recipient token may act only on its own recipient; a service token on any."""
    own = request_recipient_id(request)
    if own is not None and own != str(recipient_id):
        raise ForbiddenError("Токен пользователя выдан для другого user_id.", field="user_id")


class SpecStatusView(APIView):
    """Renders every answer, errors included, as {"status": "error", "message": ...}."""

    authentication_classes = [RecipientTokenAuthentication, JWTAuthentication]
    spec_messages: dict[int, str] = {}

    def handle_exception(self, exc):
        response = super().handle_exception(exc)  # the project envelope {"error": {...}}
        if response.status_code >= 500:
            # The spec allows only 500 here: a database or broker failure is "Failed to ...", not 503.
            response.status_code = 500
            if "Retry-After" in response:
                del response["Retry-After"]
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        message = CODE_MESSAGES.get(error.get("code")) or self.get_spec_messages().get(response.status_code)
        body = {"status": "error", "message": message or error.get("message", "")}
        if response.status_code in (400, 404):
            body["errors"] = error.get("fields") or {"non_field_errors": [error.get("message", "")]}
        if "retry_after" in error:
            body["retry_after"] = error["retry_after"]
        response.data = body
        return response

    def get_spec_messages(self) -> dict[int, str]:
        return self.spec_messages

    def answer(self, code: int, **extra) -> Response:
        status_word = "success" if code < 300 else "error"
        return Response({"status": status_word, "message": self.get_spec_messages()[code], **extra}, status=code)


def _status_responses(codes: dict[int, str]) -> dict:
    return {code: OpenApiResponse(s.StatusResponseSerializer, description=text) for code, text in codes.items()}


class SendView(SpecStatusView):
    permission_classes = [IsNotificationsService]
    authentication_classes = [JWTAuthentication]
    spec_messages = SEND_MESSAGES

    @extend_schema(
        summary="Отправить уведомление",
        description=(
            "Синхронно: запись в историю и доставка до ответа (200 — отправлено, 500 — канал не принял). "
            "С заголовком `Prefer: respond-async` — 202 и доставка через Celery с повторами. "
            "`Idempotency-Key` делает повтор запроса безопасным: тот же ответ, без повторной отправки."
        ),
        request=s.SendSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("Prefer", str, OpenApiParameter.HEADER, required=False,
                             description="`respond-async` — ответить 202 и доставить в фоне."),
        ],
        responses={**_status_responses(SEND_MESSAGES),
                   202: OpenApiResponse(s.StatusResponseSerializer, description=ACCEPTED_MESSAGE),
                   401: OpenApiResponse(s.StatusResponseSerializer), 403: OpenApiResponse(s.StatusResponseSerializer),
                   409: OpenApiResponse(s.StatusResponseSerializer,
                                        description="Запрос с этим Idempotency-Key ещё выполняется.")},
    )
    def post(self, request):
        data = s.send_data_plain(request.data)
        if data is None:
            serializer = s.SendSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 255:
            raise ValidationError({"Idempotency-Key": ["Не длиннее 255 символов."]})
        is_async = "respond-async" in request.headers.get("Prefer", "").lower()
        notification = services.notification_send(
            requested_by=request.user, idempotency_key=key, is_async=is_async, **data)
        response = self._answer(notification)
        response["Notification-Id"] = str(notification.pk)
        return response

    def _answer(self, notification: Notification) -> Response:
        code = notification.http_status
        if code is None:
            raise ConflictError("Запрос с этим Idempotency-Key ещё выполняется.", code="idempotency_in_progress")
        if code == 202:
            return Response({"status": "accepted", "message": ACCEPTED_MESSAGE,
                             "notification_id": str(notification.pk)}, status=202)
        if code == 404:
            return self.answer(404, errors={"service": [notification.last_error]})
        return self.answer(code)


@extend_schema(exclude=True)
class SendSlashView(SendView):
    """`/notifications/send/`: same view, documented once."""


class SubscribeView(SpecStatusView):
    permission_classes = [IsNotificationsServiceOrRecipient]
    spec_messages = SUBSCRIBE_MESSAGES

    @extend_schema(
        summary="Подписать устройство на push-уведомления",
        description=(
            "Токен сервиса или токен пользователя (его `user_id` должен совпадать, иначе 403). "
            "Повтор с тем же устройством — 200 без изменений; второе устройство добавляется. "
            "После переустановки приложения передайте прежний id в `previous_device_id`: "
            "замена попадёт в историю устройств."
        ),
        request=s.SubscribeSerializer,
        responses={**_status_responses(SUBSCRIBE_MESSAGES),
                   401: OpenApiResponse(s.StatusResponseSerializer), 403: OpenApiResponse(s.StatusResponseSerializer)},
    )
    def post(self, request):
        serializer = s.SubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ensure_same_recipient(request, data["user_id"])
        services.device_subscribe(recipient_id=data["user_id"], device_id=data["device_id"],
                                  previous_device_id=data.get("previous_device_id", ""))
        return self.answer(200)

    def get_spec_messages(self):
        if getattr(self, "request", None) is not None and self.request.method == "DELETE":
            return UNSUBSCRIBE_MESSAGES
        return self.spec_messages

    @extend_schema(
        summary="Отписать устройство от push-уведомлений",
        description=(
            "Тело `{user_id, device_id}` (или те же query-параметры). Устройство отключается, "
            "в истории устройств — запись `device_id → \"\"`. Повтор — 200 без новой записи. "
            "Устройство другого пользователя или неизвестное — 404 `Device not found.`"
        ),
        request=s.UnsubscribeRequestSerializer,
        parameters=[OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.QUERY, required=False),
                    OpenApiParameter("device_id", str, OpenApiParameter.QUERY, required=False)],
        responses={**_status_responses(UNSUBSCRIBE_MESSAGES),
                   401: OpenApiResponse(s.StatusResponseSerializer), 403: OpenApiResponse(s.StatusResponseSerializer)},
    )
    def delete(self, request):
        serializer = s.UnsubscribeRequestSerializer(data=request.data or request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ensure_same_recipient(request, data["user_id"])
        services.device_unsubscribe(recipient_id=data["user_id"], device_id=data["device_id"])
        return self.answer(200)


@extend_schema(exclude=True)
class SubscribeSlashView(SubscribeView):
    """`/notifications/subscribe/`: same view, documented once."""


class IsRecipient(BasePermission):
    message = "Требуется токен пользователя."

    def has_permission(self, request, view):
        return request_recipient_id(request) is not None


class PreferencesView(APIView):
    """The recipient's own preferences and quiet hours (user token only)."""

    authentication_classes = [RecipientTokenAuthentication]
    permission_classes = [IsRecipient]

    def _body(self, recipient) -> dict:
        return {"user_id": str(recipient.pk), "preferences": preferences_matrix(recipient=recipient),
                "quiet_hours": s.QuietHoursSerializer(recipient.quiet_hours).data
                if hasattr(recipient, "quiet_hours") else None}

    @extend_schema(summary="Мои настройки уведомлений", responses={200: s.PreferencesSerializer,
                                                                   **error_responses(401, 403, 404)})
    def get(self, request):
        return Response(self._body(recipient_get(recipient_id=request_recipient_id(request))))

    @extend_schema(
        summary="Изменить мои настройки уведомлений",
        description=("Перечисленные пары (тип, канал) получают `enabled`; остальные не меняются. "
                     "Обязательные типы (error, critical) отключить нельзя — 400. "
                     "`quiet_hours`: объект — задать, null — убрать, нет ключа — не менять. "
                     "Всё применяется целиком или не применяется; каждое изменение пишется в историю."),
        request=s.PreferencesSerializer, responses={200: s.PreferencesSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request):
        recipient = recipient_get(recipient_id=request_recipient_id(request))
        serializer = s.PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            services.preferences_set(
                recipient=recipient, source=PreferenceSource.API,
                changes=[PreferenceChangeRequest(p["type"], p["channel"], p["enabled"])
                         for p in data.get("preferences", [])])
            if "quiet_hours" in data:
                quiet = data["quiet_hours"] or {}
                services.quiet_hours_set(recipient=recipient, start=quiet.get("start"), end=quiet.get("end"),
                                         tz=quiet.get("timezone", ""), source=PreferenceSource.API)
        return Response(self._body(Recipient.objects.get(pk=recipient.pk)))


class NotifyView(APIView):
    permission_classes = [IsNotificationsService]

    @extend_schema(
        summary="Уведомить пользователя (сервис выбирает каналы)",
        description=("Каналы — привязанные и активные, разрешённые настройками пользователя, в порядке "
                     "NOTIFICATIONS_FALLBACK_ORDER; политика типа first_success или all; тихие часы откладывают "
                     "необязательные типы. Ответ 202 с id; состояние — GET /notifications/{id}."),
        request=s.NotifySerializer,
        responses={202: s.NotifyAcceptedSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request):
        serializer = s.NotifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        notify = services.notify_create(requested_by=request.user, **serializer.validated_data)
        response = Response({"notification_id": str(notify.pk), "status": notify.status,
                             "deliver_after": notify.deliver_after}, status=status.HTTP_202_ACCEPTED)
        response["Location"] = f"/notifications/{notify.pk}"
        return response


class NotificationStatusView(APIView):
    permission_classes = [IsNotificationsService]

    @extend_schema(summary="Состояние уведомления и попытки по каналам",
                   description="Видно только сервису, который его отправил (иначе 404).",
                   responses={200: s.NotificationStatusSerializer, **error_responses(401, 403, 404)})
    def get(self, request, notification_id):
        return Response(notification_status_get(requested_by=request.user, notification_id=notification_id))


class StatusCallbackView(APIView):
    permission_classes = [IsNotificationsService]

    @extend_schema(summary="Адрес для событий статуса уведомлений этого сервиса",
                   responses={200: s.StatusCallbackSerializer, **error_responses(401, 403, 404)})
    def get(self, request):
        row = StatusCallback.objects.filter(account=request.user).first()
        if row is None:
            raise NotFoundError("Адрес не задан.")
        return Response({"callback_url": row.url, "secret": None})

    @extend_schema(summary="Задать адрес для событий статуса (Standard Webhooks)",
                   description="Секрет подписи возвращается один раз: при создании и при `rotate_secret: true`.",
                   request=s.StatusCallbackSerializer,
                   responses={200: s.StatusCallbackSerializer, **error_responses(400, 401, 403)})
    def put(self, request):
        serializer = s.StatusCallbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row, secret = services.status_callback_set(account=request.user, url=serializer.validated_data["callback_url"],
                                                   rotate_secret=serializer.validated_data["rotate_secret"])
        return Response({"callback_url": row.url, "secret": secret})

    @extend_schema(summary="Убрать адрес для событий статуса", request=None,
                   responses={204: None, **error_responses(401, 403)})
    def delete(self, request):
        StatusCallback.objects.filter(account=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecipientUpsertView(APIView):
    permission_classes = [IsNotificationsService]

    @extend_schema(summary="Создать или обновить получателя", request=s.RecipientUpsertSerializer,
                   responses={200: s.RecipientSerializer, 201: s.RecipientSerializer,
                              **error_responses(400, 401, 403, 404)})
    def put(self, request, recipient_id):
        serializer = s.RecipientUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        recipient, created = services.recipient_upsert(recipient_id=recipient_id, **serializer.validated_data)
        return Response(s.RecipientSerializer(recipient).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RecipientTokenView(APIView):
    permission_classes = [IsNotificationsService]

    @extend_schema(summary="Выдать токен пользователя для мобильного приложения", request=None,
                   responses={201: s.RecipientTokenSerializer, **error_responses(401, 403, 404)})
    def post(self, request, recipient_id):
        token = services.recipient_token_issue(recipient=recipient_get(recipient_id=recipient_id))
        return Response({"access": str(token), "expires_at": token.current_time + token.lifetime},
                        status=status.HTTP_201_CREATED)


class BindingLinksView(APIView):
    authentication_classes = [RecipientTokenAuthentication, JWTAuthentication]
    permission_classes = [IsNotificationsServiceOrRecipient]

    @extend_schema(summary="Выдать ссылки для привязки Telegram и VK", request=None,
                   responses={201: s.BindingLinksSerializer, **error_responses(401, 403, 404)})
    def post(self, request, recipient_id):
        ensure_same_recipient(request, recipient_id)
        token = services.binding_token_issue(recipient=recipient_get(recipient_id=recipient_id))
        return Response(s.BindingLinksSerializer(services.binding_links_build(token=token)).data,
                        status=status.HTTP_201_CREATED)
