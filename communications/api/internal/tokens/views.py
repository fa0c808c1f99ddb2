"""CRM → module: issue and deactivate a tenant's integration token (service-authenticated)."""

from datetime import timedelta

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from communications.api.internal.tokens import serializers as s
from communications.api.public.serializers import PublicErrorSerializer
from communications.selectors.conversations import integration_token_get, integration_token_list
from communications.selectors.providers import provider_get
from communications.services.tokens import integration_token_deactivate, integration_token_issue
from config.api.permissions import IsCRMService

TAG = "Токены интеграции (CRM)"
ERRORS = {
    400: OpenApiResponse(PublicErrorSerializer, description="Некорректные данные."),
    401: OpenApiResponse(PublicErrorSerializer, description="Нет сервисного JWT."),
    403: OpenApiResponse(PublicErrorSerializer, description="Вызывающий — не сервис CRM."),
    404: OpenApiResponse(PublicErrorSerializer, description="Провайдер или токен не найдены (provider_not_found, "
                                                            "not_found)."),
}


class IntegrationTokenListView(APIView):
    permission_classes = [IsCRMService]

    @extend_schema(
        operation_id="integration_tokens_issue", tags=[TAG], summary="Выпустить токен интеграции",
        description="Активация интеграции тенанта с провайдером: выпускает токен клиента (JWT) и запускает "
                    "процедуру активации (основной аккаунт и т.д.). Значение токена возвращается один раз. "
                    "Прежний активный токен этого тенанта и провайдера перестаёт действовать (статус replaced).",
        request=s.IntegrationTokenIssueSerializer,
        responses={201: s.IntegrationTokenIssuedSerializer, **ERRORS,
                   404: OpenApiResponse(PublicErrorSerializer, description="Провайдер не найден."),
                   409: OpenApiResponse(PublicErrorSerializer,
                                        description="Приложение не установлено у тенанта или провайдер отключён.")},
        examples=[OpenApiExample("Выпуск", request_only=True,
                                 value={"tenantId": "0b7f6a1e-9a51-4d4e-9d5e-2c1f3a4b5c6d", "providerCode": "chatapp"})],
    )
    def post(self, request):
        serializer = s.IntegrationTokenIssueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lifetime = timedelta(days=data["lifetime_days"]) if "lifetime_days" in data else None
        issued = integration_token_issue(tenant_id=data["tenant_id"], provider=provider_get(code=data["provider_code"], field="providerCode"),
                                         lifetime=lifetime, issued_by=request.user.get_username())
        body = s.IntegrationTokenSerializer(issued.token).data
        body["token"] = issued.value
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="integration_tokens_list", tags=[TAG], summary="Токены интеграции тенанта",
        description="Статусы и даты токенов тенанта (без значений).",
        parameters=[s.IntegrationTokenListQuerySerializer],
        responses={200: s.IntegrationTokenSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        query = s.IntegrationTokenListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        provider = provider_get(code=query.validated_data["provider_code"], field="providerCode") if query.validated_data.get("provider_code") \
            else None
        tokens = integration_token_list(tenant_id=query.validated_data["tenant_id"], provider=provider)
        return Response(s.IntegrationTokenSerializer(tokens[:100], many=True).data)


class IntegrationTokenDeactivateView(APIView):
    permission_classes = [IsCRMService]

    @extend_schema(
        operation_id="integration_tokens_deactivate", tags=[TAG], summary="Деактивировать токен интеграции",
        description="Деактивация интеграции: токен перестаёт действовать со следующего запроса провайдера, "
                    "запускается процедура деактивации. Повторный вызов возвращает тот же результат.",
        request=None,
        responses={200: s.IntegrationTokenSerializer, **ERRORS,
                   404: OpenApiResponse(PublicErrorSerializer, description="Токен не найден.")},
    )
    def post(self, request, token_id: str):
        token = integration_token_deactivate(token=integration_token_get(jti=token_id))
        return Response(s.IntegrationTokenSerializer(token).data)
