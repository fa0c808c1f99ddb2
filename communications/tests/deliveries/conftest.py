import pytest

from communications.tests.factories import make_tenant_configuration


@pytest.fixture
def tenant_configuration(db, fake_provider):
    return make_tenant_configuration(fake_provider)
