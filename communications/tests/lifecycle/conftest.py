import uuid

import pytest

from communications.endpoints import endpoint_names
from communications.services import providers as services

SECRET_KEY = "super-secret-provider-key-123"


def configuration_payload(version: str = "1.0.0", **overrides) -> dict:
    """A valid camelCase configuration with every endpoint on a fake host."""
    data = {
        "configurationVersion": version,
        "providerLabel": "Acme Chat",
        "endpoints": {name: f"https://provider.example/{name}" for name in endpoint_names()},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": SECRET_KEY},
    }
    data.update(overrides)
    return data


def upload(version: str, *, app_version: str = "1.0.0", mode: str = "update", code: str = "acme"):
    return services.provider_configuration_upload(app_code=code, app_version=app_version,
                                                  data=configuration_payload(version), mode=mode)


@pytest.fixture
def provider(db):
    provider, _ = services.provider_register(code="acme", label="Acme")
    return provider


@pytest.fixture
def configured_provider(provider):
    """Provider `acme` with configuration 1.0.0 active for app version 1.0.0."""
    upload("1.0.0", mode="create")
    return provider


@pytest.fixture
def tenant_id():
    return uuid.uuid4()
