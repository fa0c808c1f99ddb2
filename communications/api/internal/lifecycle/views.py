"""Marketplace → communications lifecycle API (`/internal/v1/...`).

Authenticated as the marketplace service account only: developer JWTs and provider
integration tokens are rejected. Views are thin: validate, call a service, serialize.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from communications.api.internal.lifecycle import serializers as s
from communications.services import providers as services
from config.api.permissions import IsMarketplaceService
from config.api.schema import ErrorEnvelopeSerializer

ErrorSerializer = ErrorEnvelopeSerializer


def _errors(*codes: int) -> dict:
    texts = {400: "Ошибка валидации", 401: "Нет токена", 403: "Не сервисная учётная запись маркетплейса",
             404: "Провайдер или связка не найдены", 409: "Конфликт состояния"}
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in (401, 403, *codes)}


class _MarketplaceServiceView(APIView):
    permission_classes = [IsMarketplaceService]

    @staticmethod
    def _valid(serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ProviderView(_MarketplaceServiceView):
    @extend_schema(operation_id="internal_provider_register", tags=["internal: маркетплейс"],
                   summary="Регистрация провайдера (идемпотентно: повтор обновляет название)",
                   request=s.ProviderRegisterSerializer,
                   responses={201: s.ProviderSerializer, 200: s.ProviderSerializer, **_errors(400)})
    def post(self, request):
        data = self._valid(s.ProviderRegisterSerializer, request.data)
        provider, created = services.provider_register(code=data["code"], label=data["label"])
        return Response(s.ProviderSerializer(provider).data, status=201 if created else 200)


class AppVersionView(_MarketplaceServiceView):
    @extend_schema(operation_id="internal_app_version_created", tags=["internal: маркетплейс"],
                   summary="Уведомление о новой версии приложения: привязка конфигурации предыдущей версии",
                   request=s.AppVersionCreatedSerializer,
                   responses={200: s.AppVersionBindingSerializer, **_errors(400, 404)})
    def post(self, request):
        data = self._valid(s.AppVersionCreatedSerializer, request.data)
        binding = services.app_version_created(app_code=data["appCode"], app_version=data["appVersion"])
        return Response({"appCode": data["appCode"], "appVersion": data["appVersion"],
                         "configurationVersion": binding.configuration.configuration_version if binding else None})


class TenantConfigurationView(_MarketplaceServiceView):
    @extend_schema(operation_id="internal_tenant_configuration_create", tags=["internal: маркетплейс"],
                   summary="Установка приложения тенанту: связка с активной конфигурацией версии",
                   request=s.TenantConfigurationChangeSerializer,
                   responses={201: s.TenantConfigurationSerializer, 200: s.TenantConfigurationSerializer,
                              **_errors(400, 404, 409)})
    def post(self, request):
        data = self._valid(s.TenantConfigurationChangeSerializer, request.data)
        binding, created = services.tenant_configuration_create(
            tenant_id=data["tenantId"], app_code=data["appCode"], app_version=data["appVersion"])
        return Response(s.TenantConfigurationSerializer(binding).data, status=201 if created else 200)

    @extend_schema(operation_id="internal_tenant_configuration_upgrade", tags=["internal: маркетплейс"],
                   summary="Обновление версии приложения у тенанта: переход на активную конфигурацию новой версии",
                   request=s.TenantConfigurationChangeSerializer,
                   responses={200: s.TenantConfigurationSerializer, **_errors(400, 404, 409)})
    def put(self, request):
        data = self._valid(s.TenantConfigurationChangeSerializer, request.data)
        binding = services.tenant_configuration_upgrade(
            tenant_id=data["tenantId"], app_code=data["appCode"], app_version=data["appVersion"])
        return Response(s.TenantConfigurationSerializer(binding).data)

    @extend_schema(operation_id="internal_tenant_configuration_delete", tags=["internal: маркетплейс"],
                   summary="Отключение приложения у тенанта (параметры в query)",
                   parameters=[s.TenantConfigurationDeleteQuerySerializer],
                   responses={200: s.TenantConfigurationSerializer, **_errors(400, 404)})
    def delete(self, request):
        data = self._valid(s.TenantConfigurationDeleteQuerySerializer, request.query_params)
        binding = services.tenant_configuration_delete(tenant_id=data["tenantId"], app_code=data["appCode"])
        return Response(s.TenantConfigurationSerializer(binding).data, status=status.HTTP_200_OK)
