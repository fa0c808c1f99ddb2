"""OpenAPI declarations shared by the API surfaces (the error envelope, library views)."""

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

# THE one error schema of every document (`Error`), as config/api/errors.py renders it.
ErrorEnvelopeSerializer = inline_serializer("Error", {
    "error": inline_serializer("ErrorBody", {
        "code": serializers.CharField(help_text="Машиночитаемый код ошибки."),
        "message": serializers.CharField(help_text="Описание для человека."),
        "fields": serializers.DictField(required=False, help_text="Ошибки по полям запроса."),
        "retry_after": serializers.IntegerField(required=False, help_text="Только у 429: через сколько секунд "
                                                                           "повторить (как Retry-After)."),
        "unmet": serializers.ListField(
            child=inline_serializer("PublishConditionUnmet", {
                "code": serializers.ChoiceField(choices=[
                    ("communications_scope", "не включён скоуп «Коммуникации»"),
                    ("provider_configuration", "нет активной конфигурации провайдера"),
                    ("moderation", "модерация не одобрена"),
                    ("provider_testing", "тестирование не подтверждено провайдером"),
                    ("sbercrm_testing", "тестирование не подтверждено SberCRM для активной конфигурации")]),
                "message": serializers.CharField(help_text="Что сделать, по-русски."),
            }), required=False,
            help_text="Только у 400 publish_conditions_unmet: каждое невыполненное условие публикации."),
    }),
})
ERROR_TEXTS = {400: "Некорректные данные запроса", 401: "Нет токена или неверные учётные данные",
               403: "Нет доступа", 404: "Не найдено", 409: "Конфликт состояния", 429: "Слишком много запросов"}


def error_responses(*codes: int) -> dict:
    """`{code: OpenApiResponse(envelope)}` for extend_schema(responses=...)."""
    return {code: OpenApiResponse(ErrorEnvelopeSerializer, description=ERROR_TEXTS[code]) for code in codes}


class _TokenViewSchema(OpenApiViewExtension):
    """simplejwt's views answer 400 (malformed) and 401 (wrong credentials / token) too."""

    summary = ""
    errors = (400, 401)

    def view_replacement(self):
        summary, serializer, errors = self.summary, self.target_class().get_serializer_class(), self.errors

        class Fixed(self.target_class):
            @extend_schema(summary=summary, responses={200: serializer, **error_responses(*errors)})
            def post(self, request, *args, **kwargs):
                return super().post(request, *args, **kwargs)

        return Fixed


class TokenObtainPairViewSchema(_TokenViewSchema):
    target_class = "rest_framework_simplejwt.views.TokenObtainPairView"
    summary = "Получить JWT по логину и паролю"
    errors = (400, 401, 429)  # 429: the client rate limit, or the login lockout (`login_locked`)


class TokenRefreshViewSchema(_TokenViewSchema):
    target_class = "rest_framework_simplejwt.views.TokenRefreshView"
    summary = "Обновить JWT"


# The token-version subclasses (config/auth.py) document like simplejwt's own classes.
class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "config.auth.VersionedJWTAuthentication"


class VersionedTokenObtainPairSerializerSchema(TokenObtainPairSerializerExtension):
    target_class = "config.auth.VersionedTokenObtainPairSerializer"


class VersionedTokenRefreshSerializerSchema(TokenRefreshSerializerExtension):
    target_class = "config.auth.VersionedTokenRefreshSerializer"
