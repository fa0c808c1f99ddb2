"""Thin API views. `send` and `subscribe` answer with the spec's bodies
`{"status": ..., "message": ...}` for every status, including auth errors;
400/404 add `errors` naming the field and the reason."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ForbiddenError
from config.api.permissions import SERVICE_NOTIFICATIONS, IsNotificationsService, user_in_group
from config.api.schema import error_responses
from config.auth import VersionedJWTAuthentication as JWTAuthentication  # token-version check
from notifications import services
from notifications.api import serializers as s
from notifications.auth import RecipientTokenAuthentication, request_recipient_id
from notifications.errors import IdempotencyConflict
from notifications.models import Notification
from notifications.selectors import recipient_get

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
ACCEPTED_MESSAGE = "Notification accepted for delivery."


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
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        body = {"status": "error", "message": self.spec_messages.get(response.status_code, error.get("message", ""))}
        if response.status_code in (400, 404):
            body["errors"] = error.get("fields") or {"non_field_errors": [error.get("message", "")]}
        if "retry_after" in error:
            body["retry_after"] = error["retry_after"]
        response.data = body
        return response

    def answer(self, code: int, **extra) -> Response:
        status_word = "success" if code < 300 else "error"
        return Response({"status": status_word, "message": self.spec_messages[code], **extra}, status=code)


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
        request=s.SendRequestSerializer,
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
        serializer = s.SendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 255:
            raise ValidationError({"Idempotency-Key": ["Не длиннее 255 символов."]})
        is_async = "respond-async" in request.headers.get("Prefer", "").lower()
        notification = services.notification_send(
            requested_by=request.user, idempotency_key=key, is_async=is_async, **serializer.validated_data)
        response = self._answer(notification)
        response["Notification-Id"] = str(notification.pk)
        return response

    def _answer(self, notification: Notification) -> Response:
        code = notification.http_status
        if code is None:
            raise IdempotencyConflict("Запрос с этим Idempotency-Key ещё выполняется.")
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
        request=s.SubscribeRequestSerializer,
        responses={**_status_responses(SUBSCRIBE_MESSAGES),
                   401: OpenApiResponse(s.StatusResponseSerializer), 403: OpenApiResponse(s.StatusResponseSerializer)},
    )
    def post(self, request):
        serializer = s.SubscribeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ensure_same_recipient(request, data["user_id"])
        services.device_subscribe(recipient_id=data["user_id"], device_id=data["device_id"],
                                  previous_device_id=data.get("previous_device_id", ""))
        return self.answer(200)


@extend_schema(exclude=True)
class SubscribeSlashView(SubscribeView):
    """`/notifications/subscribe/`: same view, documented once."""


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
