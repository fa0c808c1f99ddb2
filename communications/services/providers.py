"""Provider lifecycle: registration, configuration upload, version bindings, tenant bindings.

Every write locks the Provider row (`select_for_update`), so concurrent uploads and binding
changes of one provider run one after another. The partial unique constraint
`uniq_active_configuration_per_app_version` is the last line of defence.

Rules (spec «Конфигурация провайдера», «Конфигурация провайдера для тенанта»):
- an upload (first or update) becomes the active configuration of its app version, every earlier
  one for that version becomes inactive;
- `configurationVersion` is semver and strictly greater than every earlier version of the provider;
- a new app version inherits the active configuration of the previous app version;
- a tenant is bound to the active configuration of its installed app version and moves only when
  the app version is upgraded; a newer configuration for the same app version does not move it.
"""

import logging
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from communications import endpoints as provider_endpoints
from communications import semver
from communications.clients import TransportError, UnsafeTargetError, resolve_safe
from communications.models import (
    Attachment,
    ConfigurationBinding,
    Provider,
    ProviderConfiguration,
    TenantConfiguration,
)
from communications.provider_contract import CAPABILITY_KEYS, key_header_problem
from communications.selectors.providers import (
    binding_active_get,
    binding_pending_get,
    configuration_active_get,
    provider_get,
    tenant_configuration_get,
)
from communications.services.deliveries import provider_signing_secret_issue
from communications.services.sync import accounts_deactivate, integration_farewell
from config.errors import ApplicationError, ConflictError, NotFoundError

logger = logging.getLogger(__name__)

SUPPORTED_AUTH_TYPES = {choice.value for choice in ProviderConfiguration.AuthType}
FUTURE_AUTH_TYPES = {"BASIC", "OAUTH2", "OAUTH_2", "BEARER", "JWT"}


# --- providers ----------------------------------------------------------------------------------

@transaction.atomic
def provider_register(*, code: str, label: str) -> tuple[Provider, bool]:
    """Create the provider or update its label (idempotent, marketplace retries are safe).

    A new provider gets its signing secret at once, so every call we ever make to it is
    signed. The value is not returned here: the developer obtains it (shown once) by
    rotating it — `POST /internal/v1/providers/{code}/signing-secret` or the admin action.
    """
    provider, created = Provider.objects.select_for_update().get_or_create(code=code, defaults={"label": label})
    if not provider.signing_secrets.exists():
        provider_signing_secret_issue(provider=provider)
    if not created and (provider.label != label or not provider.is_active):
        provider.label, provider.is_active = label, True
        provider.save(update_fields=["label", "is_active", "updated_at"])
    logger.info("provider registered code=%s created=%s", code, created)
    return provider, created


# --- configuration upload -----------------------------------------------------------------------

def _is_http_url(value) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _unsafe_url_problem(url: str) -> str | None:
    """The SSRF guard's refusal of `url` (credentials, private or loopback address), or None.

    A host that does not resolve yet is accepted: the guard runs again at every call.
    """
    try:
        resolve_safe(url)
    except UnsafeTargetError as exc:
        return f"URL не может быть вызван: {exc}."
    except (TransportError, ValueError):
        return None
    return None


def _capabilities_validate(value, errors: dict) -> dict:
    """The optional `capabilities` block: {"attachments": bool, "attachmentTypes": [...], "maxAttachmentBytes": int}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["capabilities"] = ["Ожидается объект, например {\"attachments\": true}."]
        return {}
    for key in sorted(set(value) - set(CAPABILITY_KEYS)):
        errors[f"capabilities.{key}"] = [f"Неизвестная возможность. Допустимые: {', '.join(CAPABILITY_KEYS)}."]
    if "attachments" in value and not isinstance(value["attachments"], bool):
        errors["capabilities.attachments"] = ["Ожидается true или false."]
    types = value.get("attachmentTypes")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)
                              or not set(types) <= set(Attachment.Type.values)):
        errors["capabilities.attachmentTypes"] = [f"Список из: {', '.join(Attachment.Type.values)}."]
    limit = value.get("maxAttachmentBytes")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        errors["capabilities.maxAttachmentBytes"] = ["Ожидается положительное целое число байт."]
    return value


def configuration_validate(*, data: dict) -> dict:
    """Check a configuration payload (camelCase, as in the API); return the cleaned model fields.

    Collects every problem and raises one ApplicationError whose `fields` name each of them
    (`endpoints.sendMessage`, `auth.type`, ...).
    """
    errors: dict[str, list[str]] = {}
    version = data.get("configurationVersion")
    if not semver.is_valid(version):
        errors["configurationVersion"] = ["Версия конфигурации должна соответствовать SemVer 2.0.0, например 1.2.0."]
    label = data.get("providerLabel")
    if not isinstance(label, str) or not label.strip() or len(label) > 255:
        errors["providerLabel"] = ["Укажите отображаемое название провайдера (до 255 символов)."]

    endpoints = data.get("endpoints")
    if not isinstance(endpoints, dict):
        errors["endpoints"] = ["Ожидается объект «название эндпоинта → URL»."]
        endpoints = {}
    for name in provider_endpoints.required_names():
        if not endpoints.get(name):
            errors[f"endpoints.{name}"] = ["Обязательный эндпоинт не указан."]
    for name, url in endpoints.items():
        if provider_endpoints.endpoint_get(name) is None:
            known = ", ".join(provider_endpoints.endpoint_names())
            errors[f"endpoints.{name}"] = [f"Неизвестный эндпоинт. Допустимые: {known}."]
        elif url and not _is_http_url(url):
            errors[f"endpoints.{name}"] = ["Нужен абсолютный URL со схемой http или https."]
        elif url and (problem := _unsafe_url_problem(url)):
            errors[f"endpoints.{name}"] = [problem]

    auth = data.get("auth")
    if not isinstance(auth, dict):
        errors["auth"] = ["Укажите аутентификацию: {\"type\": \"API_KEY\", \"headerName\": ..., \"key\": ...}."]
        auth = {}
    auth_type = auth.get("type")
    if auth and auth_type not in SUPPORTED_AUTH_TYPES:
        message = (f"Тип аутентификации {auth_type} будет поддержано в следующих релизах; сейчас доступен только API_KEY."
                   if str(auth_type).upper() in FUTURE_AUTH_TYPES
                   else "Неподдерживаемый тип аутентификации; сейчас доступен только API_KEY.")
        errors["auth.type"] = [message]
    header = auth.get("headerName")
    header_problem = key_header_problem(header) if auth else None
    if header_problem:
        errors["auth.headerName"] = [header_problem]
    key = auth.get("key")
    if auth and (not isinstance(key, str) or len(key) < 8 or len(key) > 512):
        errors["auth.key"] = ["Ключ должен быть строкой длиной от 8 до 512 символов."]

    capabilities = _capabilities_validate(data.get("capabilities"), errors)
    if errors:
        raise ApplicationError("Некорректная конфигурация провайдера.", code="validation_error", fields=errors)
    return {
        "capabilities": capabilities,
        "configuration_version": version,
        "provider_label": label.strip(),
        "endpoints": {name: url for name, url in endpoints.items() if url},
        "auth_type": auth_type,
        "auth_header": header.strip(),
        "auth_key": key,
    }


@transaction.atomic
def provider_configuration_upload(*, app_code: str, app_version: str, data: dict, mode: str = "update",
                                  actor=None, activate: bool = True) -> ProviderConfiguration:
    """Store a new configuration and bind it to `app_version`.

    mode="create" (POST) requires that no configuration is active for the app version yet,
    mode="update" (PUT) requires that one is. With `activate` (an unpublished app version) the upload
    becomes the active one and every earlier binding of the version inactive. Without it (a published
    version) it becomes the version's pending configuration, replacing an earlier pending one, and the
    active one keeps serving until `configuration_pending_activate`.
    """
    cleaned = configuration_validate(data=data)
    provider = provider_get(code=app_code, for_update=True)  # serialises uploads of one provider
    active = configuration_active_get(provider=provider, app_version=app_version)
    if mode == "create" and active is not None:
        raise ConflictError(f"Для версии {app_version} уже есть активная конфигурация {active.configuration_version};"
                            " для обновления используйте PUT.", code="configuration_exists", field="appVersion")
    if mode == "update" and active is None:
        raise NotFoundError(f"Для версии {app_version} нет конфигурации; сначала создайте её через POST.",
                            code="configuration_not_found", field="appVersion")

    new_key = semver.key(cleaned["configuration_version"])
    earlier = list(provider.configurations.values_list("configuration_version", flat=True))
    highest = max(earlier, key=semver.key, default=None)
    if highest is not None and not new_key > semver.key(highest):
        raise ApplicationError(
            f"Версия конфигурации должна быть больше всех предыдущих версий провайдера (последняя: {highest}).",
            code="configuration_version_not_increased", field="configurationVersion")

    configuration = ProviderConfiguration.objects.create(
        provider=provider, app_code=app_code, app_version=app_version, uploaded_by=actor, **cleaned)
    earlier = ConfigurationBinding.objects.filter(provider=provider, app_version=app_version)
    earlier.filter(is_pending=True).update(is_pending=False)
    if activate:
        earlier.filter(is_active=True).update(is_active=False)
        if provider.label != cleaned["provider_label"]:
            provider.label = cleaned["provider_label"]
            provider.save(update_fields=["label", "updated_at"])
    ConfigurationBinding.objects.create(provider=provider, app_version=app_version, configuration=configuration,
                                        is_active=activate, is_pending=not activate)
    logger.info("provider configuration uploaded provider=%s app_version=%s configuration_version=%s pending=%s",
                app_code, app_version, configuration.configuration_version, not activate)
    return configuration


@transaction.atomic
def configuration_pending_activate(*, app_code: str, app_version: str) -> ProviderConfiguration | None:
    """Make the pending configuration of `app_version` the active one (after a passing run and SberCRM's mark).

    Tenants already bound keep their configuration (they move only on an app upgrade); new installs get
    this one. Returns the activated configuration, or None when nothing is pending.
    """
    provider = provider_get(code=app_code, for_update=True)
    pending = binding_pending_get(provider=provider, app_version=app_version)
    if pending is None:
        return None
    ConfigurationBinding.objects.filter(provider=provider, app_version=app_version, is_active=True) \
        .update(is_active=False)
    pending.is_active, pending.is_pending = True, False
    pending.save(update_fields=["is_active", "is_pending"])
    configuration = pending.configuration
    if provider.label != configuration.provider_label:
        provider.label = configuration.provider_label
        provider.save(update_fields=["label", "updated_at"])
    logger.info("pending configuration activated provider=%s app_version=%s configuration_version=%s",
                app_code, app_version, configuration.configuration_version)
    return configuration


@transaction.atomic
def app_version_created(*, app_code: str, app_version: str) -> ConfigurationBinding | None:
    """The marketplace created `app_version`: bind the previous version's active configuration to it.

    "Previous" is the highest app version below the new one (semver) that has an active configuration.
    Idempotent: when the new version already has an active configuration nothing changes.
    Returns the active binding of the new version, or None when there is nothing to inherit.
    """
    if not semver.is_valid(app_version):
        raise ApplicationError("Версия приложения должна соответствовать SemVer 2.0.0.", field="appVersion")
    provider = provider_get(code=app_code, for_update=True)
    existing = binding_active_get(provider=provider, app_version=app_version)
    if existing is not None:
        return existing
    new_key = semver.key(app_version)
    candidates = [binding for binding in ConfigurationBinding.objects.select_related("configuration")
                  .filter(provider=provider, is_active=True)
                  if semver.is_valid(binding.app_version) and semver.key(binding.app_version) < new_key]
    if not candidates:
        return None
    previous = max(candidates, key=lambda binding: semver.key(binding.app_version))
    binding, _ = ConfigurationBinding.objects.update_or_create(
        app_version=app_version, configuration=previous.configuration,
        defaults={"provider": provider, "is_active": True})
    logger.info("configuration %s of %s %s bound to new app version %s", previous.configuration.configuration_version,
                app_code, previous.app_version, app_version)
    return binding


# --- tenant configurations ----------------------------------------------------------------------

def _active_configuration_or_error(*, provider: Provider, app_version: str) -> ProviderConfiguration:
    configuration = configuration_active_get(provider=provider, app_version=app_version)
    if configuration is None:
        raise ConflictError(f"Для версии {app_version} приложения «{provider.code}» нет активной конфигурации"
                            " провайдера; тенант не может быть подключён.",
                            code="no_active_configuration", field="appVersion")
    return configuration


@transaction.atomic
def tenant_configuration_create(*, tenant_id, app_code: str, app_version: str) -> tuple[TenantConfiguration, bool]:
    """Install: bind the tenant to the active configuration of the installed app version.

    Re-sending the same install is a no-op (returns created=False). Installing again after
    DELETE re-activates the binding with the version's current active configuration.
    """
    provider = provider_get(code=app_code, for_update=True)
    current = tenant_configuration_get(tenant_id=tenant_id, provider=provider, for_update=True)
    if current is not None and current.is_active:
        if current.app_version == app_version:
            return current, False
        raise ConflictError(f"Приложение уже установлено тенанту в версии {current.app_version};"
                            " для перехода на другую версию используйте PUT.",
                            code="already_installed", field="appVersion")
    configuration = _active_configuration_or_error(provider=provider, app_version=app_version)
    if current is None:
        current = TenantConfiguration(tenant_id=tenant_id, provider=provider)
    current.configuration, current.app_version = configuration, app_version
    current.status, current.disabled_at = TenantConfiguration.Status.ACTIVE, None
    current.save()
    logger.info("tenant %s bound to %s configuration %s", tenant_id, app_code, configuration.configuration_version)
    return current, True


@transaction.atomic
def tenant_configuration_upgrade(*, tenant_id, app_code: str, app_version: str) -> TenantConfiguration:
    """Manual app upgrade in the marketplace: move the tenant to the new version's active configuration.

    The same app version is a no-op: the tenant keeps its configuration even if a newer one was
    uploaded for that version since. Downgrades are refused.
    """
    provider = provider_get(code=app_code, for_update=True)
    current = tenant_configuration_get(tenant_id=tenant_id, provider=provider, for_update=True)
    if current is None or not current.is_active:
        raise NotFoundError("Приложение не установлено этому тенанту.", code="tenant_configuration_not_found",
                            field="tenantId")
    if current.app_version == app_version:
        return current
    if not semver.is_valid(app_version) or (semver.is_valid(current.app_version)
                                            and semver.key(app_version) < semver.key(current.app_version)):
        raise ApplicationError(f"Можно перейти только на более новую версию приложения (сейчас {current.app_version}).",
                               code="invalid_upgrade", field="appVersion")
    current.configuration = _active_configuration_or_error(provider=provider, app_version=app_version)
    current.app_version = app_version
    current.save(update_fields=["configuration", "app_version", "updated_at"])
    logger.info("tenant %s upgraded %s to app version %s", tenant_id, app_code, app_version)
    return current


@transaction.atomic
def tenant_configuration_delete(*, tenant_id, app_code: str) -> TenantConfiguration:
    """The app was disabled/uninstalled in the marketplace. Idempotent: repeating it changes nothing."""
    provider = provider_get(code=app_code, for_update=True)
    current = tenant_configuration_get(tenant_id=tenant_id, provider=provider, for_update=True)
    if current is None:
        raise NotFoundError("Приложение не установлено этому тенанту.", code="tenant_configuration_not_found",
                            field="tenantId")
    if current.is_active:
        tenant_app_disabled(tenant_configuration=current)
    return current


@transaction.atomic
def tenant_app_disabled(*, tenant_configuration: TenantConfiguration) -> TenantConfiguration:
    """THE event «приложение отключено в маркетплейсе» for one tenant and provider.

    Records the state (status=disabled, disabled_at) so nothing calls the provider for this tenant
    any more (the outbox cancels non-farewell calls of a disabled tenant), then, in this same
    transaction: cancel what is queued, queue `disconnect` (and `deleteWebhook`) through the outbox
    and deactivate the tenant's main and child accounts (services/sync.py).
    """
    tenant_configuration.status = TenantConfiguration.Status.DISABLED
    tenant_configuration.disabled_at = timezone.now()
    tenant_configuration.save(update_fields=["status", "disabled_at", "updated_at"])
    integration_farewell(tenant_configuration=tenant_configuration, reason="app_disabled")
    accounts_deactivate(tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider)
    logger.info("tenant_app_disabled tenant=%s provider=%s", tenant_configuration.tenant_id,
                tenant_configuration.provider.code)
    return tenant_configuration
