"""Structured content of the portal pages that must stay in step with the code.

Kept as data (not prose in templates) so tests can check it against the code:
the configuration example validates, the error codes are really produced, the
webhook events are the model's catalogue. Texts are Russian: people read them.
"""

from dataclasses import dataclass
from datetime import timedelta

from communications import endpoints as provider_endpoints
from communications import provider_contract as contract
from communications.api.public import limits
from communications.models import Webhook
from communications.services.deliveries import SIGNING_SECRET_OVERLAP

SIGNING_OVERLAP_HOURS = SIGNING_SECRET_OVERLAP // timedelta(hours=1)

def configuration_example() -> dict:
    """The guide's full configuration: every endpoint of the registry."""
    return {
        "appCode": "acme-chat",
        "appVersion": "1.0.0",
        "configurationVersion": "1.0.0",
        "providerLabel": "Acme Chat",
        "endpoints": {name: f"https://api.acme.example/sbercrm/{name}" for name in provider_endpoints.endpoint_names()},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": "acme-secret-key-2026"},
    }


CONFIGURATION_FIELDS = [
    ("appCode", "Системное имя приложения в маркетплейсе; оно же код провайдера в модуле коммуникаций."),
    ("appVersion", "Версия приложения, к которой привязывается конфигурация."),
    ("configurationVersion", "Версия конфигурации по SemVer 2.0.0; каждая загрузка — строго больше всех прежних."),
    ("providerLabel", "Отображаемое название провайдера в SberCRM."),
    ("endpoints", "URL ваших эндпоинтов: все обязательные и нужные вам необязательные (списки — под таблицей; "
                  "абсолютные http(s))."),
    ("auth", "Аутентификация наших вызовов: type = API_KEY, headerName — имя заголовка, key — ключ (8–512 символов). "
             "Ключ только для записи: в ответах он замаскирован."),
]


# Headers of every call to a provider (communications/clients.py).
CALL_HEADERS = [
    ("Content-Type", "application/json"),
    ("User-Agent", "SberCRM-Communications/1.0"),
    ("<headerName из конфигурации>", "ваш ключ из auth.key"),
    ("Idempotency-Key", "UUID вызова — одинаковый во всех повторах; по нему убирайте дубли"),
    ("webhook-id", "тот же UUID"),
    ("webhook-timestamp", "Unix-время попытки, секунды"),
    ("webhook-signature", "v1,<base64 HMAC-SHA256>, по одной на каждый действующий секрет через пробел: после "
                          f"смены — две, после двух смен за {SIGNING_OVERLAP_HOURS} ч — три; годится любая"),
    ("X-SberCRM-Endpoint", "имя эндпоинта, например sendMessage"),
    ("X-SberCRM-Tenant", "UUID тенанта"),
]

RETRY_SCHEDULE = "5 с, 30 с, 2 мин, 10 мин, 30 мин, 1 ч, 3 ч, 6 ч, 12 ч (±20 %)"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    when: str
    fix: str


ERROR_CODES = [
    ErrorCode("validation_error", 400, "Тело не прошло проверку; error.fields называет каждое поле, "
              "вложенные — вложенными объектами.", "Исправьте поля из error.fields. Неизвестное поле — тоже ошибка."),
    ErrorCode("parse_error", 400, "Тело — не JSON.", "Отправляйте корректный JSON в UTF-8."),
    ErrorCode("not_authenticated", 401, "Нет заголовка Authorization.", "Передайте Authorization: Bearer <токен>."),
    ErrorCode("token_malformed", 401, "Заголовок не вида «Bearer <токен>» (другая схема — Token, Basic — тоже).",
              "Проверьте формат заголовка."),
    ErrorCode("token_invalid", 401, "Токен не наш, подпись не сходится или токен неизвестен.",
              "Попросите тенанта заново скопировать токен из SberCRM."),
    ErrorCode("token_expired", 401, "Срок действия токена истёк.", "Тенант выпускает новый токен в SberCRM."),
    ErrorCode("token_inactive", 401, "Токен деактивирован или заменён новым.", "Используйте новый токен тенанта."),
    ErrorCode("integration_disabled", 401, "Тенант отключил приложение в маркетплейсе.",
              "Прекратите вызовы по этому тенанту."),
    ErrorCode("provider_inactive", 401, "Провайдер отключён в SberCRM.", "Свяжитесь с поддержкой SberCRM."),
    ErrorCode("unknown_channel", 400, "Чат ссылается на канал, который не подключён у этого тенанта "
              "(error.fields.channelId или chat.channelId).", "Сначала подключите канал: POST /channels."),
    ErrorCode("id_conflict", 409, "Повтор POST с тем же id, но другим телом (error.fields.id). Ничего не изменено.",
              "Повторяйте тот же запрос без изменений; изменения — через PATCH."),
    ErrorCode("stale_update", 409, "PATCH с changedAt старше уже применённого изменения (error.fields.changedAt). "
              "Ничего не изменено.", "Не повторяйте устаревшее изменение: актуальное уже применено."),
    ErrorCode("sandbox_chat_limit", 409, "Только в песочнице разработчика: новый чат сверх лимита песочницы "
              "(error.limit; error.fields.id или chat.id). Ничего не создано.",
              "Пишите в существующие чаты или сбросьте песочницу (консоль разработчика или POST sandbox/reset)."),
    ErrorCode("not_found", 404, "Объекта с таким ID нет у этого тенанта и провайдера (чужие объекты неотличимы "
              "от несуществующих).", "Сначала создайте объект (канал, чат, сообщение) или проверьте ID."),
    ErrorCode("method_not_allowed", 405, "Метод не поддерживается этим путём.", "Сверьтесь со справочником API."),
    ErrorCode("payload_too_large", 413, f"Тело запроса больше {limits.MAX_BODY_BYTES // (1024 * 1024)} МБ.",
              "Разбейте пакет на части (не больше 100 сообщений)."),
    ErrorCode("unsupported_media_type", 415, "Content-Type не application/json.",
              "Передавайте Content-Type: application/json."),
    ErrorCode("throttled", 429, "Превышен лимит частоты запросов; error.retry_after и заголовок Retry-After — "
              "через сколько секунд повторить.", "Подождите Retry-After секунд и повторите тот же запрос."),
    ErrorCode("server_error", 500, "Внутренняя ошибка SberCRM.",
              "Повторите с экспоненциальной задержкой: повтор с тем же id безопасен."),
]

LIMITS = [
    ("Тело запроса", f"{limits.MAX_BODY_BYTES // (1024 * 1024)} МБ", "413 payload_too_large"),
    ("Текст сообщения", f"1–{limits.MAX_TEXT_LENGTH} символов, без символа NUL", "400, поле text"),
    ("Участников в чате (в одном запросе)", f"{limits.MAX_PARTICIPANTS}, id уникальны", "400, поле participants"),
    ("Сообщений в POST /bulk/messages", f"1–{limits.MAX_BULK_MESSAGES}", "400, поле messages"),
    ("ID канала, чата, сообщения, участника", f"1–{limits.MAX_ID_LENGTH} символов, без «/»", "400 / 404"),
    ("metadata", f"JSON-объект до {limits.MAX_METADATA_BYTES // 1024} КБ", "400, поле metadata"),
    ("Описание ошибки статуса", f"{limits.MAX_ERROR_LENGTH} символов", "400, поле error"),
    ("URL вебхука", f"http(s), до {limits.MAX_WEBHOOK_URL_LENGTH} символов", "400, поле url"),
]

WEBHOOK_EVENT_NOTES = {
    Webhook.Event.MESSAGE_CREATED: "Оператор отправил сообщение из SberCRM (в чат или рассылкой). Ваш ID ещё не "
                                   "известен: messageId = null, clientMessageId — наш временный ID crm-….",
    Webhook.Event.MESSAGE_UPDATED: "Оператор изменил текст исходящего сообщения: новый text и editedAt.",
    Webhook.Event.MESSAGE_STATUS: "Оператор изменил статус сообщения: status, error (для failed).",
    Webhook.Event.CHAT_SEEN: "Оператор прочитал чат: chatId и updated — сколько сообщений стали прочитанными.",
    Webhook.Event.INTEGRATION_DEACTIVATED: "Тенант деактивировал токен или отключил приложение (reason: "
                                           "token_deactivated или app_disabled); после этого событий по тенанту "
                                           "не будет.",
}


def webhook_events() -> list[dict]:
    """The catalogue exactly as the public API accepts it (`Webhook.Event`), with the body each event has."""
    return [{"code": event.value, "label": event.label, "note": WEBHOOK_EVENT_NOTES.get(event, ""),
             "example": contract.WEBHOOK_EVENT_EXAMPLES[event.value]} for event in Webhook.Event]


STAND_VERDICTS = [
    ("ok", "Проверка пройдена.", "Ничего делать не нужно."),
    ("unreachable", "Не удалось соединиться: DNS не разрешается, соединение отклонено или адрес запрещён "
                    "(внутренние и приватные адреса не вызываются).",
     "Проверьте URL в конфигурации, публичный DNS и что сервер слушает порт и доступен из интернета."),
    ("tls_error", "TLS-рукопожатие не удалось: сертификат просрочен, самоподписан или выдан на другое имя.",
     "Установите действительный сертификат на имя из URL с полной цепочкой (например, Let’s Encrypt)."),
    ("bad_status", "Ответ не 2xx.", "Отвечайте 2xx, когда запрос принят. Проверьте ключ из auth.key и проверку подписи; "
                                    "4xx означает «не повторять», 5xx и 429 — «повторить позже»."),
    ("contract_violation", "Тело ответа не соответствует контракту (например, sendMessage без messageId, "
                           "getChannels без channels, ответ не JSON).",
     "Сверьте ответ с разделом «Эндпоинты провайдера» руководства: поля, типы, Content-Type: application/json."),
    ("timeout", "Нет ответа за отведённое время (соединение 5 с, ответ 20 с).",
     "Отвечайте сразу, а долгую работу выполняйте асинхронно после ответа."),
    ("not_idempotent", "Один и тот же Idempotency-Key дал разный результат (например, другой messageId).",
     "Сохраняйте ответ по Idempotency-Key и на повтор возвращайте его, не выполняя действие снова."),
    ("redirect", "Ответ 3xx: перенаправления мы не выполняем.",
     "Укажите в конфигурации конечный URL (с https и нужным путём), без перенаправлений."),
]
