"""Marketplace → module: show a provider's signing secret once, by rotating it.

The marketplace's developer portal calls this for the developer who owns the app (the
marketplace checks ownership); the module only trusts the marketplace service account.
A secret exists from registration on (provider_register issues one) but is never shown
then; this endpoint issues a fresh one and returns it — the only time it is visible. The
previous secret keeps signing (a second `v1,` signature) for 24 hours.
"""

from datetime import timedelta

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from communications.api.public.serializers import PublicErrorSerializer
from communications.selectors.providers import provider_get
from communications.services.deliveries import SIGNING_SECRET_OVERLAP, provider_signing_secret_issue
from config.api.permissions import IsMarketplaceService


class SigningSecretSerializer(serializers.Serializer):
    providerCode = serializers.CharField()
    secret = serializers.CharField(help_text="whsec_… (Standard Webhooks). Показывается один раз.")
    previousValidHours = serializers.IntegerField(help_text="Сколько часов прежний секрет ещё подписывает вызовы.")


class SigningSecretView(APIView):
    permission_classes = [IsMarketplaceService]

    @extend_schema(operation_id="internal_provider_signing_secret_rotate", tags=["internal: маркетплейс"],
                   summary="Выпустить и показать (один раз) секрет подписи вызовов провайдера",
                   request=None,
                   responses={201: SigningSecretSerializer,
                              401: OpenApiResponse(PublicErrorSerializer, description="Нет токена"),
                              403: OpenApiResponse(PublicErrorSerializer, description="Не сервис маркетплейса"),
                              404: OpenApiResponse(PublicErrorSerializer, description="Провайдер не найден")})
    def post(self, request, code: str):
        provider = provider_get(code=code)
        secret = provider_signing_secret_issue(provider=provider)
        return Response({"providerCode": provider.code, "secret": secret,
                         "previousValidHours": SIGNING_SECRET_OVERLAP // timedelta(hours=1)},
                        status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})
