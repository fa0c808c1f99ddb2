"""The OpenAPI documents the portal serves and `make openapi` commits.

- public:        the provider API (`/api/v1/`), shown to providers;
- developer:     the developer (marketplace) API (`/internal/v1/marketplace/` without the service-only
                 installations, `/api/auth/`), shown to providers' developers;
- internal:      marketplace ↔ module, CRM, developer API (`/internal/v1/`, `/api/auth/`);
- notifications: the notification service (`/notifications/`), for internal teams.

One function, `schema_generate(name)`, builds a document; the portal views, the
`make openapi` target (`write_all()`) and the test that
compares the committed `docs/openapi/*.yaml` files all use it.
"""

from pathlib import Path

from django.conf import settings
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.settings import patched_settings

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "docs" / "openapi"

PUBLIC_DESCRIPTION = """\
Публичный API модуля коммуникаций SberCRM для провайдеров (мессенджеры, чаты, SMS, почта).

Провайдер передаёт в SberCRM каналы, чаты, участников и сообщения своих клиентов-тенантов.
Каждый запрос выполняется от имени одного тенанта: заголовок `Authorization: Bearer <токен клиента>`.

- Портал разработчика: [/developers/](/developers/)
- Аутентификация: [/developers/reference/authentication/](/developers/reference/authentication/)
- Ошибки и конверт ошибки: [/developers/reference/errors/](/developers/reference/errors/)
- Лимиты: [/developers/reference/limits/](/developers/reference/limits/)
- Версионирование и изменения: [/developers/reference/changelog/](/developers/reference/changelog/)
"""

DEVELOPER_DESCRIPTION = """\
API разработчика маркетплейса SberCRM: регистрация, приложения, версии, скоупы, конфигурации провайдера,
секрет подписи, тестовый стенд, песочница и журнал доставок.

**Вход.** `POST /api/auth/token/` `{"username": "<ваш email>", "password": "…"}` → `access` и `refresh`.
Передавайте `Authorization: Bearer <access>`. Access-токен живёт **15 минут**, refresh — **7 дней**
(настройки `JWT_ACCESS_MINUTES`, `JWT_REFRESH_DAYS`); новый access: `POST /api/auth/token/refresh/`
`{"refresh": "…"}`. Смена пароля или блокировка компании отзывает токены сразу (401).

**Учётная запись.** `POST /internal/v1/marketplace/signup`, затем ссылка из письма
(или страница [/developers/signup/](/developers/signup/)).

- Портал разработчика: [/developers/](/developers/)
- Песочница и журнал доставок: [/developers/guide/#step-sandbox](/developers/guide/#step-sandbox)
- Ошибки и конверт ошибки: [/developers/reference/errors/](/developers/reference/errors/)
"""

# Paths in the documents are absolute (`/api/v1/...`), so a server is the SberCRM origin.
SERVERS = [{"url": "{origin}", "description": "Адрес вашей SberCRM",
            "variables": {"origin": {"default": "https://crm.example.ru",
                                     "description": "Схема и хост SberCRM, без пути"}}},
           {"url": "http://localhost:8000", "description": "Локальная разработка (make run)"}]

SCHEMAS: dict[str, dict] = {
    "public": {
        "prefixes": ("/api/v1/",),
        "settings": {
            "TITLE": "SberCRM: публичный API модуля коммуникаций",
            "DESCRIPTION": PUBLIC_DESCRIPTION,
            "VERSION": "1.0.0",
            "SERVERS": SERVERS,
            "TAGS": [
                {"name": "Каналы", "description": "Подключение и отключение каналов провайдера."},
                {"name": "Чаты", "description": "Чаты и их участники."},
                {"name": "Сообщения", "description": "Сообщения, их текст и статусы."},
                {"name": "Вебхуки", "description": "Подписка провайдера на события из SberCRM."},
                {"name": "Массовые операции", "description": "Пакетная загрузка до 100 сообщений."},
            ],
        },
    },
    "developer": {
        "prefixes": ("/internal/v1/marketplace/", "/api/auth/"),
        "exclude": ("/internal/v1/marketplace/installations",),
        "settings": {
            "TITLE": "SberCRM: API разработчика (маркетплейс)",
            "DESCRIPTION": DEVELOPER_DESCRIPTION,
            "VERSION": "1.0.0",
            "SERVERS": SERVERS,
        },
    },
    "internal": {
        "prefixes": ("/internal/v1/", "/api/auth/"),
        "settings": {
            "TITLE": "SberCRM: внутренние API модуля коммуникаций и маркетплейса",
            "DESCRIPTION": "Для сервисов SberCRM: маркетплейс ↔ модуль коммуникаций (`/internal/v1/`), токены "
                           "интеграции для CRM, операторский API, JWT сервисных учётных записей (`/api/auth/`). "
                           "Разработчикам провайдеров — отдельная схема API разработчика: "
                           "[/developers/developer-api/](/developers/developer-api/).",
            "VERSION": "1.0.0",
            "SERVERS": SERVERS,
        },
    },
    "notifications": {
        "prefixes": ("/notifications/",),
        "settings": {
            "TITLE": "SberCRM: сервис уведомлений",
            "DESCRIPTION": "Отправка уведомлений (email, push, Telegram, VK), подписка устройств, "
                           "получатели и ссылки привязки. Для внутренних команд SberCRM.",
            "VERSION": "1.0.0",
            "SERVERS": SERVERS,
        },
    },
}


def _select(endpoints, prefixes, exclude=()):
    return [endpoint for endpoint in endpoints
            if endpoint[0].startswith(prefixes) and not (exclude and endpoint[0].startswith(exclude))]


# Preprocessing hooks must be importable by dotted path.
def only_public(endpoints, **kwargs):
    return _select(endpoints, SCHEMAS["public"]["prefixes"])


def only_developer(endpoints, **kwargs):
    return _select(endpoints, SCHEMAS["developer"]["prefixes"], SCHEMAS["developer"]["exclude"])


def only_internal(endpoints, **kwargs):
    return _select(endpoints, SCHEMAS["internal"]["prefixes"])


def only_notifications(endpoints, **kwargs):
    return _select(endpoints, SCHEMAS["notifications"]["prefixes"])


def custom_settings(name: str) -> dict:
    """drf-spectacular settings patch for one document (also used by the serving views)."""
    return {**SCHEMAS[name]["settings"], "PREPROCESSING_HOOKS": [f"{__name__}.only_{name}"]}


def schema_generate(name: str) -> dict:
    """The OpenAPI document `name` as a dict, independent of any request and locale."""
    with translation.override(settings.LANGUAGE_CODE), patched_settings(custom_settings(name)):
        return SchemaGenerator().get_schema(request=None, public=True)


def schema_yaml(name: str) -> str:
    return OpenApiYamlRenderer().render(schema_generate(name)).decode()


def committed_path(name: str) -> Path:
    return OPENAPI_DIR / f"{name}.yaml"


def write_all() -> list[Path]:
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = committed_path(name)
        path.write_text(schema_yaml(name), encoding="utf-8")
        written.append(path)
    return written
