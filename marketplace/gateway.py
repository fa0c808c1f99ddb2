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
from communications.selectors import providers as _selectors
from communications.services import deliveries as _deliveries
from communications.services import providers as _services
from communications.teststand import services as _teststand
from config.api.errors import NotFoundError

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
    try:
        provider = _selectors.provider_get(code=app_code)
    except NotFoundError:
        return None
    pending = _selectors.binding_pending_get(provider=provider, app_version=app_version)
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
    try:
        provider = _selectors.provider_get(code=app_code)
    except NotFoundError:
        return None
    configuration = _selectors.configuration_active_get(provider=provider, app_version=app_version)
    return configuration.configuration_version if configuration else None


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
