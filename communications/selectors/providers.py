"""Reads of providers, their configurations and tenant bindings."""

from communications.models import ConfigurationBinding, Provider, ProviderConfiguration, TenantConfiguration
from config.errors import NotFoundError


def provider_get(*, code: str, for_update: bool = False, field: str = "appCode") -> Provider:
    """The provider with this code (the marketplace app's system name), or a 404 naming `field`."""
    queryset = Provider.objects.select_for_update() if for_update else Provider.objects.all()
    provider = queryset.filter(code=code).first()
    if provider is None:
        raise NotFoundError(f"Провайдер «{code}» не зарегистрирован в модуле коммуникаций.",
                            code="provider_not_found", field=field)
    return provider


def binding_active_get(*, provider: Provider, app_version: str) -> ConfigurationBinding | None:
    return (ConfigurationBinding.objects.select_related("configuration")
            .filter(provider=provider, app_version=app_version, is_active=True).first())


def configuration_active_get(*, provider: Provider, app_version: str) -> ProviderConfiguration | None:
    """The configuration that serves `app_version` now, or None."""
    binding = binding_active_get(provider=provider, app_version=app_version)
    return binding.configuration if binding else None


def binding_pending_get(*, provider: Provider, app_version: str) -> ConfigurationBinding | None:
    """The configuration uploaded to a published app version and waiting for the test stand, or None."""
    return (ConfigurationBinding.objects.select_related("configuration")
            .filter(provider=provider, app_version=app_version, is_pending=True).first())


def configuration_under_test_get(*, provider: Provider, app_version: str) -> ProviderConfiguration | None:
    """What the test stand checks for `app_version`: the pending configuration, else the active one."""
    binding = (binding_pending_get(provider=provider, app_version=app_version)
               or binding_active_get(provider=provider, app_version=app_version))
    return binding.configuration if binding else None


def configuration_history(*, provider: Provider, app_version: str) -> list[ConfigurationBinding]:
    """Every configuration ever bound to `app_version`, newest first (the active one has is_active)."""
    return list(ConfigurationBinding.objects.select_related("configuration")
                .filter(provider=provider, app_version=app_version).order_by("-created_at", "-id"))


def tenant_configuration_get(*, tenant_id, provider: Provider, for_update: bool = False) -> TenantConfiguration | None:
    queryset = TenantConfiguration.objects.select_for_update() if for_update else TenantConfiguration.objects
    return queryset.select_related("configuration", "provider").filter(tenant_id=tenant_id, provider=provider).first()
