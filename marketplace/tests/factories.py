"""Test data of the marketplace: developer companies and their members, configuration bodies, passed runs."""

import factory
from factory.django import DjangoModelFactory

from config.tests.factories import UserFactory, jwt_client
from marketplace.models import AppVersion, ProviderCompany

API = "/internal/v1/marketplace"
SECRET_KEY = "super-secret-provider-key-123"
ENDPOINTS = ("sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead", "disconnect",
             "getChannels")


class ProviderCompanyFactory(DjangoModelFactory):
    class Meta:
        model = ProviderCompany
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Компания {n}")


def configuration(version="1.0.0", app_version="1.0.0", code="acme", **overrides) -> dict:
    """A valid configuration upload body of the marketplace API."""
    data = {
        "appCode": code, "appVersion": app_version, "configurationVersion": version, "providerLabel": "Acme Chat",
        "endpoints": {name: f"https://provider.example/{name}" for name in ENDPOINTS},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": SECRET_KEY},
    }
    data.update(overrides)
    return data


def developer_client(username: str, company: str):
    """A JWT-authenticated member of `company`."""
    user = UserFactory(username=username)
    ProviderCompanyFactory(name=company).members.add(user)
    return jwt_client(user)


def record_passed_test_run(version: AppVersion):
    """A finished, passed test-stand run of the version's active configuration."""
    from communications.models import ConfigurationBinding
    from communications.tests.factories import ConformanceRunFactory

    binding = ConfigurationBinding.objects.get(provider__code=version.application.code, app_version=version.version,
                                               is_active=True)
    return ConformanceRunFactory(configuration=binding.configuration, app_version=version.version)
