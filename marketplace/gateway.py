"""The ONLY door from the marketplace into the communications module.

Nothing else in `marketplace` imports `communications` (a test enforces it). Both apps run in one
process, so each function here calls the service function that backs the matching internal endpoint
(`POST /internal/v1/providers`, `POST /internal/v1/app-versions`, `POST|PUT|DELETE
/internal/v1/tenant-configurations`) in-process and inside the caller's transaction: a failure in
the module rolls the marketplace change back too. If the module is ever split into its own service,
only this file changes (to an HTTP client for the same endpoints, authenticated as the
`service:marketplace` account).

Errors are the module's `config.api.errors.ApplicationError`s and pass through unchanged.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Subquery

from communications import semver as _semver
from communications.models import ConfigurationBinding as _ConfigurationBinding
from communications.selectors import developer_deliveries as _developer_deliveries
from communications.selectors import providers as _selectors
from communications.selectors.conversations import chat_get as _chat_get
from communications.services import deliveries as _deliveries
from communications.services import operator as _operator
from communications.services import providers as _services
from communications.services import sandbox as _sandbox
from communications.services import teststand as _teststand
from config.errors import NotFoundError
from delivery import engine as _engine

# Semantic versioning is shared so app versions and configuration versions order the same way.
semver_is_valid = _semver.is_valid
semver_key = _semver.key


def provider_register(*, code: str, label: str) -> None:
    """POST /internal/v1/providers: create or update the provider for an app."""
    _services.provider_register(code=code, label=label)


def app_version_created(*, app_code: str, app_version: str) -> str | None:
    """POST /internal/v1/app-versions: returns the inherited configuration version, if any."""
    binding = _services.app_version_created(app_code=app_code, app_version=app_version)
    return binding.configuration.configuration_version if binding else None


def tenant_configuration_create(*, tenant_id, app_code: str, app_version: str) -> None:
    """POST /internal/v1/tenant-configurations."""
    _services.tenant_configuration_create(tenant_id=tenant_id, app_code=app_code, app_version=app_version)


def tenant_configuration_upgrade(*, tenant_id, app_code: str, app_version: str) -> None:
    """PUT /internal/v1/tenant-configurations."""
    _services.tenant_configuration_upgrade(tenant_id=tenant_id, app_code=app_code, app_version=app_version)


def tenant_configuration_delete(*, tenant_id, app_code: str) -> None:
    """DELETE /internal/v1/tenant-configurations."""
    _services.tenant_configuration_delete(tenant_id=tenant_id, app_code=app_code)


def provider_configuration_upload(*, app_code: str, app_version: str, data: dict, mode: str, actor,
                                  activate: bool = True) -> dict:
    """Create (mode="create") or update (mode="update") the provider configuration of an app version.

    Without `activate` (a published version) the upload waits as the version's pending configuration.
    Returns the uploaded configuration as bound to the version (`isActive`, `isPending`).
    """
    configuration = _services.provider_configuration_upload(app_code=app_code, app_version=app_version, data=data,
                                                            mode=mode, actor=actor, activate=activate)
    binding = configuration.bindings.select_related("configuration").get(app_version=app_version)
    return {**_configuration_view(binding), "pendingConfigurationVersion": None if activate else
            configuration.configuration_version}


def provider_configuration_get(*, app_code: str, app_version: str, with_history: bool = False) -> dict | None:
    """The active configuration of an app version (key masked) with the pending one's version, optionally
    with its history; None if none is active."""
    provider = _selectors.provider_get(code=app_code)
    bindings = _selectors.configuration_history(provider=provider, app_version=app_version)
    active = next((binding for binding in bindings if binding.is_active), None)
    if active is None:
        return None
    pending = next((binding for binding in bindings if binding.is_pending), None)
    result = {**_configuration_view(active),
              "pendingConfigurationVersion": pending.configuration.configuration_version if pending else None}
    if with_history:
        result["history"] = [_configuration_view(binding) for binding in bindings]
    return result


def provider_configuration_pending_get(*, app_code: str, app_version: str) -> dict | None:
    """The configuration waiting for the test stand and SberCRM's mark (key masked), or None."""
    provider = _provider_or_none(app_code)
    pending = provider and _selectors.binding_pending_get(provider=provider, app_version=app_version)
    return _configuration_view(pending) if pending else None


def provider_configuration_pending_activate(*, app_code: str, app_version: str) -> str | None:
    """Activate the pending configuration of the app version; its configurationVersion, or None."""
    configuration = _services.configuration_pending_activate(app_code=app_code, app_version=app_version)
    return configuration.configuration_version if configuration else None


def app_versions_with_pending_configuration(queryset):
    """Narrow an AppVersion queryset to versions with a pending configuration (one SQL query)."""
    return queryset.filter(Exists(_bindings_of_outer_version(is_pending=True)))


def provider_configuration_active_version(*, app_code: str, app_version: str) -> str | None:
    """configurationVersion of the configuration serving this app version now, or None."""
    provider = _provider_or_none(app_code)
    configuration = provider and _selectors.configuration_active_get(provider=provider, app_version=app_version)
    return configuration.configuration_version if configuration else None


def _provider_or_none(app_code: str):
    """The app's provider, or None while the app has no configuration yet."""
    try:
        return _selectors.provider_get(code=app_code)
    except NotFoundError:
        return None


def _bindings_of_outer_version(**filters):
    """Bindings of the AppVersion row an annotation or filter is evaluated for."""
    return _ConfigurationBinding.objects.filter(provider__code=OuterRef("application__code"),
                                                app_version=OuterRef("version"), **filters)


def app_versions_with_configuration(queryset):
    """Narrow an AppVersion queryset to versions an active configuration serves (one SQL query)."""
    return queryset.filter(Exists(_bindings_of_outer_version(is_active=True)))


def active_configuration_version_subquery():
    """For annotating an AppVersion queryset: configurationVersion active for the row's version (or NULL)."""
    active = _bindings_of_outer_version(is_active=True)
    return Subquery(active.values("configuration__configuration_version")[:1])


def _configuration_view(binding) -> dict:
    """The API shape of a configuration bound to an app version. The key is masked: it is write-only."""
    configuration = binding.configuration
    return {
        "appCode": configuration.app_code,
        "appVersion": binding.app_version,
        "uploadedForAppVersion": configuration.app_version,
        "configurationVersion": configuration.configuration_version,
        "providerLabel": configuration.provider_label,
        "endpoints": dict(configuration.endpoints),
        "auth": {"type": configuration.auth_type, "headerName": configuration.auth_header,
                 "key": configuration.masked_key},
        "isActive": binding.is_active,
        "isPending": binding.is_pending,
        "uploadedAt": configuration.created_at,
        "boundAt": binding.created_at,
    }


def provider_signing_secret_rotate(*, app_code: str) -> dict:
    """POST /internal/v1/providers/{code}/signing-secret: a fresh `whsec_` secret (the only time it is shown)
    and how many hours the previous one keeps signing."""
    secret = _deliveries.provider_signing_secret_issue(provider=_selectors.provider_get(code=app_code))
    return {"secret": secret, "previousValidHours": _deliveries.SIGNING_SECRET_OVERLAP // timedelta(hours=1)}


# --- test stand (docs/test-stand.md) ---------------------------------------------------------------

def conformance_run_start(*, app_code: str, app_version: str, origin: str, actor=None) -> dict:
    """Queue a test-stand run of the configuration active for the app version (runs in Celery)."""
    run = _teststand.conformance_run_start(app_code=app_code, app_version=app_version, origin=origin, actor=actor)
    return _run_view(run)


def conformance_run_list(*, app_code: str, app_version: str, limit: int = 50) -> list[dict]:
    """The newest runs of the app version, newest first."""
    runs = _teststand.conformance_run_list(app_code=app_code, app_version=app_version)[:limit]
    return [_run_view(run) for run in runs]


def conformance_run_get(*, app_code: str, app_version: str, run_id: int) -> dict:
    """One run with every check; 404 when it is not a run of this app version."""
    run = _teststand.conformance_run_get(app_code=app_code, app_version=app_version, run_id=run_id)
    return _run_view(run, with_checks=True)


def conformance_run_latest(*, app_code: str, app_version: str) -> dict | None:
    """The latest run of the configuration active for the app version, or None (the publish rule)."""
    run = _teststand.conformance_run_latest(app_code=app_code, app_version=app_version)
    return _run_view(run) if run else None


def _run_view(run, *, with_checks: bool = False) -> dict:
    view = {
        "id": run.pk, "status": run.status, "passed": run.passed, "appVersion": run.app_version,
        "configurationVersion": run.configuration.configuration_version,
        "sandboxTenantId": run.sandbox_tenant_id, "origin": run.origin, "summary": run.summary,
        "createdAt": run.created_at, "startedAt": run.started_at, "finishedAt": run.finished_at,
    }
    if with_checks:
        view["checks"] = [{
            "position": check.position, "endpoint": check.endpoint, "isRepeat": check.is_repeat,
            "verdict": check.verdict, "reason": check.reason, "latencyMs": check.latency_ms,
            "request": {"url": check.request_url, "headers": check.request_headers, "body": check.request_body,
                        "idempotencyKey": check.idempotency_key},
            "response": {"status": check.response_status, "headers": check.response_headers,
                         "bodyExcerpt": check.response_excerpt},
        } for check in run.checks.all()]
    return view


# --- the delivery log of a developer's own providers ------------------------------------------------------

def delivery_list(*, app_codes, sandbox_tenant_ids, app=None, environment=None, tenant_id=None, **filters):
    """Calls to these apps' endpoints and webhooks (a queryset for pagination; `delivery_view` shapes a row)."""
    tenant_ids = [tenant_id] if tenant_id else (list(sandbox_tenant_ids) if environment == "sandbox" else None)
    exclude = list(sandbox_tenant_ids) if environment == "production" else None
    return _developer_deliveries.developer_delivery_list(provider_codes=app_codes, app=app, tenant_ids=tenant_ids,
                                                         exclude_tenant_ids=exclude, **filters)


def delivery_view(delivery, *, sandbox_tenant_ids) -> dict:
    return _developer_deliveries.developer_delivery_view(delivery, sandbox_tenant_ids=sandbox_tenant_ids)


def delivery_get(*, app_codes, delivery_id: int):
    return _developer_deliveries.developer_delivery_get(provider_codes=app_codes, delivery_id=delivery_id)


def delivery_retry(*, app_codes, delivery_id: int):
    """The engine's retry of a dead or refused call, for the developer's own apps only (else 404)."""
    delivery = _developer_deliveries.developer_delivery_get(provider_codes=app_codes, delivery_id=delivery_id)
    _engine.delivery_retry(delivery_id=delivery.pk)
    return delivery_get(app_codes=app_codes, delivery_id=delivery_id)


def delivery_cancel(*, app_codes, delivery_id: int):
    delivery = _developer_deliveries.developer_delivery_get(provider_codes=app_codes, delivery_id=delivery_id)
    _engine.delivery_cancel(delivery_id=delivery.pk, reason="отменена разработчиком")
    return delivery_get(app_codes=app_codes, delivery_id=delivery_id)


# --- the developer's sandbox tenant (same services as production) ---------------------------------------

sandbox_usage = _sandbox.sandbox_usage
sandbox_token_issue = _sandbox.sandbox_token_issue
sandbox_token_list = _sandbox.sandbox_token_list
sandbox_token_revoke = _sandbox.sandbox_token_revoke
sandbox_chat_list = _sandbox.sandbox_chat_list
sandbox_conversations_wipe = _sandbox.sandbox_conversations_wipe


def _provider(app_code: str):
    return _selectors.provider_get(code=app_code)


def _message_view(message) -> dict:
    return {"id": message.pk, "externalId": message.external_id, "chatId": message.chat.external_id,
            "direction": message.direction, "text": message.text, "status": message.status,
            "createdAt": message.created_at}


def operator_send(*, tenant_id, app_code: str, chat_id: str, text: str, operator_id: str = "") -> dict:
    return _message_view(_operator.operator_message_send(tenant_id=tenant_id, provider=_provider(app_code),
                                                         chat_id=chat_id, text=text, operator_id=operator_id))


def operator_edit(*, tenant_id, app_code: str, message_id: int, text: str) -> dict:
    provider = _provider(app_code)
    _operator.operator_message_get(tenant_id=tenant_id, provider=provider, message_id=message_id)  # else 404
    return _message_view(_operator.operator_message_edit(tenant_id=tenant_id, provider=provider,
                                                         message_id=message_id, text=text))


def operator_set_status(*, tenant_id, app_code: str, message_id: int, status: str, error: str = "") -> dict:
    provider = _provider(app_code)
    _operator.operator_message_get(tenant_id=tenant_id, provider=provider, message_id=message_id)  # else 404
    return _message_view(_operator.operator_message_set_status(
        tenant_id=tenant_id, provider=provider, message_id=message_id, status=status, error=error))


def operator_mark_read(*, tenant_id, app_code: str, chat_id: str) -> dict:
    provider = _provider(app_code)
    _chat_get(tenant_id=tenant_id, provider=provider, chat_id=chat_id)  # someone else's chat: 404
    updated = _operator.operator_chat_mark_read(tenant_id=tenant_id, provider=provider, chat_id=chat_id)
    return {"chatId": chat_id, "updated": updated}


def operator_broadcast(*, tenant_id, app_code: str, chat_ids: list[str], text: str, operator_id: str = "") -> dict:
    messages, endpoint = _operator.operator_broadcast(tenant_id=tenant_id, provider=_provider(app_code),
                                                      chat_ids=chat_ids, text=text, operator_id=operator_id)
    return {"endpoint": endpoint, "messages": [_message_view(message) for message in messages]}
