"""Small factories for public-API tests: a provider with a configuration bound to a tenant."""

import itertools
import uuid

from communications.models import Provider, ProviderConfiguration, TenantConfiguration

_seq = itertools.count(1)


def provider_create(*, code: str | None = None, is_active: bool = True) -> Provider:
    n = next(_seq)
    return Provider.objects.create(code=code or f"provider-{n}", label=f"Провайдер {n}", is_active=is_active)


def tenant_configuration_create(*, provider: Provider, tenant_id: uuid.UUID | None = None) -> TenantConfiguration:
    configuration = provider.configurations.first() or ProviderConfiguration.objects.create(
        provider=provider, app_code=provider.code, app_version="1.0.0", configuration_version="1.0.0",
        provider_label=provider.label, endpoints={}, auth_key="test-key-123456789",
    )
    return TenantConfiguration.objects.create(tenant_id=tenant_id or uuid.uuid4(), provider=provider,
                                              configuration=configuration, app_version="1.0.0")
