"""OpenAPI declarations shared by the API surfaces (the error envelope, library views)."""

import copy

from django.core.validators import RegexValidator
from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiViewExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from config.api.fields import UniqueListField

# THE one error schema of every document (`Error`), as config/api/errors.py renders it.
ErrorEnvelopeSerializer = inline_serializer("Error", {
    "error": inline_serializer("ErrorBody", {
        "code": serializers.CharField(help_text="Машиночитаемый код ошибки."),
        "message": serializers.CharField(help_text="Описание для человека."),
        "fields": serializers.DictField(required=False, help_text="Ошибки по полям запроса."),
        "retry_after": serializers.IntegerField(required=False, help_text="Только у 429: через сколько секунд "
                                                                           "повторить (как Retry-After)."),
        "limit": serializers.IntegerField(required=False, help_text="Только у ошибок лимитов песочницы "
                                                                     "(sandbox_*_limit): значение лимита."),
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


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Strict input serializers reject unknown fields (400), so their request bodies say
    `additionalProperties: false`. `schema_partial = False` on a class keeps its fields required
    under PATCH: those views validate the whole body (`partial=False`); `schema_min_properties`
    becomes minProperties."""

    target_class = "communications.api.public.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        serializer = self.target
        if serializer.partial and getattr(serializer, "schema_partial", True) is False:
            serializer = copy.copy(serializer)
            serializer.partial = False
        schema = auto_schema._map_basic_serializer(serializer, direction)
        if direction == "request":
            schema["additionalProperties"] = False
            if getattr(serializer, "schema_min_properties", None):
                schema["minProperties"] = serializer.schema_min_properties
        return schema


# One character Python's str.strip() keeps (DRF trims CharField input with it), spelled so that
# ECMA-262 and Python regex engines agree: `\\S` differs between them (U+001C-U+001F, U+0085).
NON_BLANK = "[^\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, saying what the fields enforce: a non-blank string is trimmed
    first, so whitespace alone is blank (pattern NON_BLANK); a UniqueListField has unique items; a list of
    serializers (`many=True`) has its min_length/max_length/allow_empty as minItems/maxItems."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and getattr(self.get_request_serializer(), "schema_min_properties", None):
            body["required"] = True  # an absent body has no field either
        return body

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (direction == "request" and isinstance(field, serializers.CharField) and field.trim_whitespace
                and not field.allow_blank and schema.get("type") == "string"
                and not {"pattern", "format", "enum"} & set(schema)
                and not any(isinstance(v, RegexValidator) for v in field.validators)):  # slug, regex: own pattern
            schema["pattern"] = NON_BLANK
        if isinstance(field, UniqueListField):
            schema["uniqueItems"] = True
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            low = field.min_length or (0 if field.allow_empty else 1)
            if low:
                schema["minItems"] = low
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema
