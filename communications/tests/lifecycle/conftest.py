import uuid

import pytest

from communications.services import providers as services
from communications.tests.factories import upload


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
