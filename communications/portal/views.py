"""Developer portal views: static documentation pages and the OpenAPI documents.

No authentication: this is documentation. Pages are listed once in `PAGES`; the nav,
the URLs and the tests that render every page and check every link all read it.
"""

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.html import escape

from communications import endpoints as provider_endpoints
from communications import provider_contract as contract
from communications.channels import KNOWN_CHANNELS, channel_kind
from communications.portal import content
from communications.portal.openapi import SCHEMAS, schema_generate, schema_yaml
from communications.teststand import payloads as stand_payloads

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@dataclass(frozen=True)
class Page:
    route: str  # relative to /developers/
    name: str  # URL name
    title: str
    template: str
    group: str  # nav section


PROVIDERS, REFERENCE, INTERNAL = "Провайдерам", "Справочник", "Внутренним командам"

PAGES = [
    Page("", "developers-index", "Обзор модуля коммуникаций", "developers/index.html", PROVIDERS),
    Page("guide/", "developers-guide", "Руководство по интеграции", "developers/guide.html", PROVIDERS),
    Page("channels/", "developers-channels", "Поддерживаемые каналы", "developers/channels.html", PROVIDERS),
    Page("test-stand/", "developers-test-stand", "Тестовый стенд", "developers/test_stand.html", PROVIDERS),
    Page("api/", "developers-api", "Публичный API (OpenAPI)", "developers/api.html", REFERENCE),
    Page("developer-api/", "developers-developer-api", "API разработчика (OpenAPI)", "developers/developer_api.html",
         REFERENCE),
    Page("reference/authentication/", "developers-authentication", "Аутентификация",
         "developers/reference/authentication.html", REFERENCE),
    Page("reference/errors/", "developers-errors", "Ошибки и конверт ошибки", "developers/reference/errors.html",
         REFERENCE),
    Page("reference/limits/", "developers-limits", "Лимиты и частота запросов", "developers/reference/limits.html",
         REFERENCE),
    Page("reference/webhooks/", "developers-webhooks", "События вебхуков", "developers/reference/webhooks.html",
         REFERENCE),
    Page("reference/changelog/", "developers-changelog", "Изменения и версионирование",
         "developers/reference/changelog.html", REFERENCE),
    Page("internal/notifications/", "developers-notifications", "Сервис уведомлений и ссылки привязки",
         "developers/internal/notifications.html", INTERNAL),
]


def sample_source(name: str, region: str | None = None) -> str:
    """A sample file verbatim, or one `# region <name>` … `# endregion` block of it."""
    text = (SAMPLES_DIR / name).read_text(encoding="utf-8")
    if region is None:
        return text
    start = text.index(f"# region {region}\n") + len(f"# region {region}\n")
    return text[start:text.index("# endregion", start)].rstrip() + "\n"


def _pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _context() -> dict:
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["principal"]
    jwt = settings.SIMPLE_JWT
    return {
        "jwt_access_minutes": int(jwt["ACCESS_TOKEN_LIFETIME"].total_seconds() // 60),
        "jwt_refresh_days": jwt["REFRESH_TOKEN_LIFETIME"].days,
        "sandbox_limits": {"chats": settings.SANDBOX_MAX_CHATS, "messages": settings.SANDBOX_MAX_MESSAGES_PER_DAY,
                           "tokens": settings.SANDBOX_MAX_TOKENS_PER_DAY},
        "content": content,
        "required_endpoints": provider_endpoints.required_names(),
        "optional_endpoints": provider_endpoints.optional_names(),
        "configuration_example": _pretty(content.configuration_example()),
        "provider_endpoints": [
            {"spec": e, "request": _pretty(e.example_request), "response": _pretty(e.example_response)}
            for e in provider_endpoints.endpoint_list()
        ],
        "stand_steps": stand_payloads.portal_steps(),
        "stand_sample_name": stand_payloads.SAMPLE_NAME,
        "chat_without_channel": {name: _pretty(body) for name, body
                                 in contract.EXAMPLE_REQUESTS_CHAT_WITHOUT_CHANNEL.items()},
        "channels": list(KNOWN_CHANNELS.values()),
        "stub_channel": channel_kind("my-messenger"),
        "webhook_events": [{**event, "example": _pretty(event["example"])} for event in content.webhook_events()],
        "throttle_rate": rate,
        "telegram_bot": settings.TELEGRAM_BOT_NAME,
        "vk_bot": settings.VK_BOT_NAME,
        "binding_ttl": settings.NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES,
        "samples": {
            "verify_signature": sample_source("verify_signature.py"),
            "provider_endpoint": sample_source("provider_endpoint.py"),
            "public_api_message": sample_source("public_api_message.py"),
            "public_api_all": sample_source("public_api_all.py"),
            "public_api_attachment": sample_source("public_api_attachment.py"),
            "sandbox": sample_source("sandbox.py"),
        },
        "api_examples": [
            {"id": operation, **_public_operations()[operation], "code": sample_source("public_api_all.py", operation)}
            for operation in API_SAMPLE_ORDER
        ],
    }


# Operation ids of the public schema, in the order of samples/public_api_all.py.
API_SAMPLE_ORDER = [
    "channels_connect", "chats_create", "chats_update", "messages_create", "messages_update_text",
    "messages_set_status", "chats_seen", "webhooks_set", "webhooks_get", "webhooks_delete",
    "bulk_messages_create", "channels_disconnect",
]


def nav() -> list:
    return [(group, [p for p in PAGES if p.group == group]) for group in (PROVIDERS, REFERENCE, INTERNAL)]


def page_view(request, page: Page):
    return render(request, page.template, {"page": page, "nav": nav(), **_context()})


@functools.cache
def _public_operations() -> dict[str, dict]:
    """operationId → {method, path, summary} from the public schema (labels for the samples)."""
    operations = {}
    for path, methods in schema_generate("public")["paths"].items():
        for method, operation in methods.items():
            operations[operation["operationId"]] = {"method": method.upper(), "path": path,
                                                    "summary": operation["summary"]}
    return operations


FORMATS = {"yaml": "application/vnd.oai.openapi; charset=utf-8", "json": "application/vnd.oai.openapi+json"}


def schema_view(request, name: str, fmt: str):
    if name not in SCHEMAS or fmt not in FORMATS:
        raise Http404
    body = schema_yaml(name) if fmt == "yaml" else json.dumps(schema_generate(name), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'inline; filename="sbercrm-{escape(name)}-openapi.{fmt}"'
    return response
