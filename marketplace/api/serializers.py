import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from config.api.fields import BlankFormValuesRefused
from config.api.schema import ErrorEnvelopeSerializer
from marketplace.models import Application, AppVersion, Installation, Scope

ErrorSerializer = ErrorEnvelopeSerializer
ERROR_TEXTS = {400: "Ошибка валидации", 401: "Нет токена", 403: "Нет доступа",
               404: "Не найдено (или чужое приложение)", 409: "Конфликт состояния", 410: "Срок истёк",
               429: "Слишком много запросов", 503: "Сервис временно недоступен"}


def errors(*codes: int, anonymous: bool = False) -> dict:
    codes = codes if anonymous else (401, 403, *codes)
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_TEXTS[code]) for code in codes}


class ScopeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Scope
        fields = ("code", "label")


class ApplicationSerializer(serializers.ModelSerializer):
    companyId = serializers.IntegerField(source="company_id")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Application
        fields = ("code", "name", "companyId", "createdAt")


class ApplicationCreateSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^[a-z][a-z0-9_-]{1,99}$", max_length=100,
                                  help_text="Системное имя (неизменяемо): латиница, цифры, «-», «_».")
    name = serializers.CharField(max_length=255)
    companyId = serializers.IntegerField(required=False, help_text="Нужен, если вы состоите в нескольких компаниях.")


class AppVersionSerializer(serializers.ModelSerializer):
    scopes = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    moderationStatus = serializers.CharField(source="moderation_status")
    rejectionReason = serializers.CharField(source="rejection_reason")
    providerTestedAt = serializers.DateTimeField(source="provider_tested_at", allow_null=True)
    sbercrmTestedAt = serializers.DateTimeField(source="sbercrm_tested_at", allow_null=True)
    publishedAt = serializers.DateTimeField(source="published_at", allow_null=True)

    class Meta:
        model = AppVersion
        fields = ("version", "scopes", "moderationStatus", "rejectionReason", "providerTestedAt",
                  "sbercrmTestedAt", "publishedAt")


class UnmetConditionSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class AppVersionDetailSerializer(AppVersionSerializer):
    unmetConditions = UnmetConditionSerializer(many=True, read_only=True, source="unmet_conditions",
                                               help_text="Что ещё нужно для публикации.")

    class Meta(AppVersionSerializer.Meta):
        fields = (*AppVersionSerializer.Meta.fields, "unmetConditions")


class AppVersionCreateSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=64, help_text="SemVer, больше всех существующих версий.")
    scopes = serializers.ListField(child=serializers.SlugField(), required=False,
                                   help_text="По умолчанию — скоупы предыдущей версии.")


class ScopesSetSerializer(serializers.Serializer):
    scopes = serializers.ListField(child=serializers.SlugField(), allow_empty=True)


# --- provider configurations ---------------------------------------------------------------------

class AuthWriteSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Пока поддерживается только API_KEY.")
    headerName = serializers.CharField(help_text="Заголовок, в котором модуль передаёт ключ.")
    key = serializers.CharField(write_only=True, help_text="Только запись: никогда не возвращается.")


class AuthReadSerializer(serializers.Serializer):
    type = serializers.CharField()
    headerName = serializers.CharField()
    key = serializers.CharField(help_text="Замаскированный ключ.")


class ProviderConfigurationWriteSerializer(serializers.Serializer):
    appCode = serializers.CharField(max_length=100)
    appVersion = serializers.CharField(max_length=64)
    configurationVersion = serializers.CharField(max_length=64, help_text="SemVer, растёт при каждом обновлении.")
    providerLabel = serializers.CharField(max_length=255)
    endpoints = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                      help_text="Название эндпоинта → абсолютный URL.")
    auth = AuthWriteSerializer()


class ProviderConfigurationQuerySerializer(serializers.Serializer):
    appCode = serializers.CharField(max_length=100)
    appVersion = serializers.CharField(max_length=64)
    history = serializers.BooleanField(required=False, default=False, help_text="Добавить историю конфигураций.")


class ProviderConfigurationItemSerializer(serializers.Serializer):
    appCode = serializers.CharField()
    appVersion = serializers.CharField()
    uploadedForAppVersion = serializers.CharField(help_text="Версия, для которой конфигурация была загружена.")
    configurationVersion = serializers.CharField()
    providerLabel = serializers.CharField()
    endpoints = serializers.DictField(child=serializers.CharField())
    auth = AuthReadSerializer()
    isActive = serializers.BooleanField()
    isPending = serializers.BooleanField(help_text="Загружена для опубликованной версии и ждёт пройденного прогона "
                                                   "тестового стенда и отметки SberCRM; до этого не обслуживает никого.")
    uploadedAt = serializers.DateTimeField()
    boundAt = serializers.DateTimeField()


class ProviderConfigurationSerializer(ProviderConfigurationItemSerializer):
    pendingConfigurationVersion = serializers.CharField(
        allow_null=True, help_text="Версия конфигурации, ожидающей проверки (только у опубликованной версии).")
    history = ProviderConfigurationItemSerializer(many=True, required=False)


# --- test stand ---------------------------------------------------------------------------------

RUN_STATUSES = [("queued", "В очереди"), ("running", "Выполняется"), ("passed", "Пройден"),
                ("failed", "Не пройден"), ("interrupted", "Прерван")]
VERDICTS = [("ok", "Пройдено"), ("unreachable", "Эндпоинт недоступен"), ("tls_error", "Ошибка TLS"),
            ("bad_status", "Ответ не 2xx"), ("contract_violation", "Ответ не соответствует контракту"),
            ("timeout", "Превышен таймаут"), ("not_idempotent", "Нет идемпотентности"),
            ("redirect", "Перенаправление")]


class TestRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    passed = serializers.BooleanField()
    appVersion = serializers.CharField()
    configurationVersion = serializers.CharField(help_text="Проверяемая (активная при запуске) конфигурация.")
    sandboxTenantId = serializers.UUIDField(help_text="Тенант песочницы: приходит в X-SberCRM-Tenant и tenantId.")
    origin = serializers.ChoiceField(choices=[("developer", "Разработчик"), ("moderator", "Модератор")])
    summary = serializers.CharField()
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)


class TestRunRequestSerializer(serializers.Serializer):
    url = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField(), help_text="Ключ API замаскирован.")
    body = serializers.JSONField()
    idempotencyKey = serializers.CharField()


class TestRunResponseSerializer(serializers.Serializer):
    status = serializers.IntegerField(allow_null=True, help_text="null — ответа не было.")
    headers = serializers.DictField(child=serializers.CharField())
    bodyExcerpt = serializers.CharField()


class TestCheckSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    endpoint = serializers.CharField()
    isRepeat = serializers.BooleanField(help_text="Повтор с тем же Idempotency-Key (проверка идемпотентности).")
    verdict = serializers.ChoiceField(choices=VERDICTS)
    reason = serializers.CharField(help_text="Причина вердикта по-русски.")
    latencyMs = serializers.IntegerField(allow_null=True)
    request = TestRunRequestSerializer()
    response = TestRunResponseSerializer()


class TestRunDetailSerializer(TestRunSerializer):
    checks = TestCheckSerializer(many=True)


# --- installations (marketplace service) ---------------------------------------------------------

class InstallationChangeSerializer(serializers.Serializer):
    tenantId = serializers.UUIDField()
    appCode = serializers.CharField(max_length=100)
    appVersion = serializers.CharField(max_length=64)


class InstallationQuerySerializer(serializers.Serializer):
    tenantId = serializers.UUIDField()
    appCode = serializers.CharField(max_length=100)


class InstallationSerializer(serializers.ModelSerializer):
    tenantId = serializers.UUIDField(source="tenant_id")
    appCode = serializers.CharField(source="application.code")
    appVersion = serializers.CharField(source="version.version")
    status = serializers.ChoiceField(choices=Installation.Status.choices)
    installedAt = serializers.DateTimeField(source="installed_at")
    disabledAt = serializers.DateTimeField(source="disabled_at", allow_null=True)

    class Meta:
        model = Installation
        fields = ("tenantId", "appCode", "appVersion", "status", "installedAt", "disabledAt")


class AppSigningSecretSerializer(serializers.Serializer):
    appCode = serializers.CharField()
    secret = serializers.CharField(help_text="whsec_… (Standard Webhooks). Показывается один раз: сохраните его.")
    previousValidHours = serializers.IntegerField(
        help_text="Сколько часов прежний секрет ещё подписывает вызовы (вторая подпись v1 в webhook-signature).")


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=150)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True, trim_whitespace=False,
                                     style={"input_type": "password"})
    companyName = serializers.CharField(max_length=255, help_text="Название компании-разработчика (уникально).")

    def validate_password(self, value):
        email = self.initial_data.get("email") if hasattr(self.initial_data, "get") else None
        email = email if isinstance(email, str) else ""
        try:
            validate_password(value, get_user_model()(username=email, email=email))
        except ValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class SignupResultSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="Адрес входа (без пробелов по краям, в нижнем регистре).")
    companyId = serializers.IntegerField(help_text="Id компании (companyId в запросах песочницы).")
    companyName = serializers.CharField()
    confirmationSent = serializers.BooleanField(help_text="Письмо со ссылкой подтверждения отправлено.")
    expiresInHours = serializers.IntegerField(help_text="Сколько часов действует ссылка из письма.")


class SignupConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class SignupConfirmResultSerializer(serializers.Serializer):
    email = serializers.EmailField()
    companyId = serializers.IntegerField()
    companyName = serializers.CharField()
    sandboxTenantId = serializers.UUIDField(help_text="UUID тенанта песочницы вашей компании.")


TENANT_FILTER = r"^(sandbox|production|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
DELIVERY_STATUSES = ["pending", "in_progress", "delivered", "dead", "refused", "cancelled"]


class DeliveryQuerySerializer(BlankFormValuesRefused, serializers.Serializer):
    app = serializers.SlugField(required=False, help_text="Системное имя вашего приложения.")
    tenant = serializers.RegexField(
        TENANT_FILTER, required=False, help_text="`sandbox`, `production` или UUID тенанта.",
        error_messages={"invalid": "Укажите sandbox, production или UUID тенанта."})
    endpoint = serializers.CharField(required=False, max_length=100,
                                     help_text="Эндпоинт провайдера (sendMessage, …) или событие вебхука.")
    status = serializers.ChoiceField(choices=DELIVERY_STATUSES, required=False)
    kind = serializers.ChoiceField(choices=["provider", "webhook"], required=False)
    since = serializers.DateTimeField(required=False, help_text="Созданные не раньше (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Созданные раньше (ISO 8601).")
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    def validate_tenant(self, value):
        if value in ("sandbox", "production"):
            return value
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise serializers.ValidationError("Укажите sandbox, production или UUID тенанта.") from exc


class DeliveryAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Номер попытки.")
    startedAt = serializers.DateTimeField()
    outcome = serializers.CharField(
        help_text="Итог: success, retry (будет повтор), failed, refused (отказ 4xx), interrupted (воркер не "
                  "завершил попытку) или unknown (возможно доставлена, не повторяется).")
    statusCode = serializers.IntegerField(allow_null=True, help_text="HTTP-код ответа; null, если ответа не было.")
    durationMs = serializers.IntegerField(allow_null=True, help_text="Время ответа, мс.")
    error = serializers.CharField(help_text="Ошибка (до 1000 символов); пусто при успехе.")


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["provider", "webhook"])
    appCode = serializers.CharField()
    tenantId = serializers.UUIDField()
    environment = serializers.ChoiceField(choices=["sandbox", "production"])
    endpoint = serializers.CharField()
    url = serializers.URLField()
    status = serializers.ChoiceField(choices=DELIVERY_STATUSES)
    attemptsInCycle = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(allow_null=True)
    lastError = serializers.CharField()
    responseStatus = serializers.IntegerField(allow_null=True)
    responseExcerpt = serializers.CharField(help_text="Начало последнего ответа (до 1000 символов).")
    requestHeaders = serializers.DictField(child=serializers.CharField(),
                                           help_text="Заголовки запроса; ключ API и подписи замаскированы.")
    requestBody = serializers.JSONField()
    createdAt = serializers.DateTimeField()
    deliveredAt = serializers.DateTimeField(allow_null=True)
    canRetry = serializers.BooleanField()
    canCancel = serializers.BooleanField()
    attempts = DeliveryAttemptSerializer(many=True)


class SandboxInstallSerializer(serializers.Serializer):
    appCode = serializers.SlugField()
    appVersion = serializers.CharField(max_length=64, help_text="Любая ваша версия, опубликованная или нет.")


class SandboxAppSerializer(serializers.Serializer):
    appCode = serializers.SlugField()


class SandboxCompanySerializer(serializers.Serializer):
    companyId = serializers.IntegerField(required=False, help_text="Нужен, если вы состоите в нескольких компаниях.")


class SandboxSendSerializer(SandboxAppSerializer):
    chatId = serializers.CharField(max_length=255)
    text = serializers.CharField(max_length=4096, trim_whitespace=False)
    operatorId = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class SandboxEditSerializer(SandboxAppSerializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=False)


class SandboxStatusSerializer(SandboxAppSerializer):
    status = serializers.ChoiceField(choices=["sent", "delivered", "read", "failed"])
    error = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class SandboxBroadcastSerializer(SandboxAppSerializer):
    chatIds = serializers.ListField(child=serializers.CharField(max_length=255), min_length=1, max_length=100)
    text = serializers.CharField(max_length=4096, trim_whitespace=False)
    operatorId = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class SandboxTokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    appCode = serializers.CharField()
    status = serializers.CharField()
    issuedAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField(allow_null=True)


class SandboxIssuedTokenSerializer(SandboxTokenSerializer):
    token = serializers.CharField(help_text="Токен интеграции песочницы: показывается один раз.")


class SandboxStateSerializer(serializers.Serializer):
    companyId = serializers.IntegerField()
    tenantId = serializers.UUIDField()
    installations = serializers.ListField(child=serializers.DictField())
    tokens = SandboxTokenSerializer(many=True)
    usage = serializers.DictField(child=serializers.IntegerField())
    limits = serializers.DictField(child=serializers.IntegerField())


class SandboxMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Id сообщения в SberCRM.")
    externalId = serializers.CharField(
        help_text="Id сообщения у провайдера (messageId из ответа sendMessage); пусто, пока вызов не выполнен.")
    chatId = serializers.CharField(help_text="Id чата у провайдера.")
    direction = serializers.CharField(help_text="incoming или outgoing.")
    text = serializers.CharField()
    status = serializers.CharField(help_text="sent, delivered, read или failed.")
    createdAt = serializers.DateTimeField()


class SandboxChatSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Id чата у провайдера.")
    appCode = serializers.CharField(help_text="Приложение, чей провайдер создал чат.")
    title = serializers.CharField()
    createdAt = serializers.DateTimeField()


class SandboxReadResultSerializer(serializers.Serializer):
    chatId = serializers.CharField()
    updated = serializers.IntegerField(help_text="Сколько сообщений отмечено прочитанными.")


class SandboxBroadcastResultSerializer(serializers.Serializer):
    endpoint = serializers.CharField(help_text="Вызванный эндпоинт провайдера: bulkMessages или sendMessage.")
    messages = SandboxMessageSerializer(many=True)
