import logging

import pytest

from communications.models import ConfigurationBinding, ProviderConfiguration
from communications.selectors.providers import configuration_active_get
from communications.services import providers as services
from communications.tests.factories import SECRET_KEY, configuration_payload, upload
from config.errors import ApplicationError, ConflictError, NotFoundError

pytestmark = pytest.mark.django_db


def _active_versions(provider, app_version="1.0.0"):
    return list(ConfigurationBinding.objects.filter(provider=provider, app_version=app_version, is_active=True)
                .values_list("configuration__configuration_version", flat=True))


def test_first_upload_becomes_active(provider):
    # when
    configuration = upload("1.0.0", mode="create")
    # then
    assert configuration_active_get(provider=provider, app_version="1.0.0") == configuration
    assert configuration.auth_key == SECRET_KEY
    assert configuration.endpoints["sendMessage"] == "https://provider.example/sendMessage"


def test_second_upload_deactivates_previous_configuration(configured_provider):
    # when
    upload("1.1.0")
    # then
    assert _active_versions(configured_provider) == ["1.1.0"]
    assert ConfigurationBinding.objects.filter(provider=configured_provider, app_version="1.0.0").count() == 2


def test_upload_for_one_app_version_leaves_other_versions_untouched(configured_provider):
    # given
    services.app_version_created(app_code="acme", app_version="2.0.0")
    # when
    upload("1.1.0", app_version="2.0.0")
    # then
    assert _active_versions(configured_provider, "1.0.0") == ["1.0.0"]
    assert _active_versions(configured_provider, "2.0.0") == ["1.1.0"]


@pytest.mark.parametrize("version", ["1.0.0", "0.9.0", "1.0.0-rc.1", "1.0.0+build.7"])
def test_configuration_version_must_increase(configured_provider, version):
    with pytest.raises(ApplicationError) as error:
        upload(version)
    assert error.value.code == "configuration_version_not_increased"
    assert "configurationVersion" in error.value.fields
    assert _active_versions(configured_provider) == ["1.0.0"]


def test_semver_is_compared_numerically_not_as_text(provider):
    # given
    upload("1.9.0", mode="create")
    # when
    upload("1.10.0")
    # then
    assert _active_versions(provider) == ["1.10.0"]


def test_version_must_exceed_every_earlier_version_of_the_provider_not_only_this_app_version(configured_provider):
    # given: 2.0.0 uploaded for another app version
    services.app_version_created(app_code="acme", app_version="2.0.0")
    upload("2.0.0", app_version="2.0.0")
    # when / then: 1.5.0 for app version 1.0.0 is lower than 2.0.0
    with pytest.raises(ApplicationError):
        upload("1.5.0", app_version="1.0.0")


def test_prerelease_upgrades_to_its_release(provider):
    upload("2.0.0-rc.1", mode="create")
    upload("2.0.0")
    assert _active_versions(provider) == ["2.0.0"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"endpoints": {"sendMessage": "https://p.example/s"}}, "endpoints.getChannels"),
    ({"endpoints": {**configuration_payload()["endpoints"], "sendFax": "https://p.example/f"}}, "endpoints.sendFax"),
    ({"endpoints": {**configuration_payload()["endpoints"], "sendMessage": "/relative"}}, "endpoints.sendMessage"),
    ({"endpoints": {**configuration_payload()["endpoints"], "disconnect": "ftp://p.example/d"}}, "endpoints.disconnect"),
    ({"endpoints": "https://p.example"}, "endpoints"),
    ({"auth": {"type": "BASIC", "headerName": "Authorization", "key": "user:password"}}, "auth.type"),
    ({"auth": {"type": "API_KEY", "headerName": "Bad Header:", "key": SECRET_KEY}}, "auth.headerName"),
    ({"auth": {"type": "API_KEY", "headerName": "X-Key", "key": "short"}}, "auth.key"),
    ({"configurationVersion": "1.0"}, "configurationVersion"),
    ({"providerLabel": "  "}, "providerLabel"),
])
def test_invalid_configuration_is_rejected_naming_the_field(provider, payload, field):
    # when
    with pytest.raises(ApplicationError) as error:
        services.provider_configuration_upload(app_code="acme", app_version="1.0.0", mode="create",
                                               data={**configuration_payload(), **payload})
    # then
    assert field in error.value.fields
    assert not ProviderConfiguration.objects.exists()


def test_basic_auth_is_announced_for_future_releases(provider):
    with pytest.raises(ApplicationError) as error:
        services.configuration_validate(data=configuration_payload(
            auth={"type": "BASIC", "headerName": "Authorization", "key": "user:password"}))
    assert "будет поддержано в следующих релизах" in error.value.fields["auth.type"][0]


def test_optional_endpoints_may_be_omitted(provider):
    data = configuration_payload()
    for name in ("setWebhook", "deleteWebhook", "getMessageHistory", "bulkMessages"):
        del data["endpoints"][name]
    configuration = services.provider_configuration_upload(app_code="acme", app_version="1.0.0", data=data,
                                                           mode="create")
    assert configuration.endpoint_url("getMessageHistory") is None


def test_upload_for_unregistered_provider_is_404(db):
    with pytest.raises(NotFoundError) as error:
        upload("1.0.0", code="ghost", mode="create")
    assert "appCode" in error.value.fields


def test_create_when_configuration_exists_is_conflict_and_update_without_one_is_404(configured_provider):
    with pytest.raises(ConflictError):
        upload("1.1.0", mode="create")
    with pytest.raises(NotFoundError) as error:
        upload("1.2.0", app_version="9.9.9")
    assert "appVersion" in error.value.fields
    assert ProviderConfiguration.objects.count() == 1


def test_api_key_is_never_logged(provider, caplog):
    with caplog.at_level(logging.DEBUG):
        upload("1.0.0", mode="create")
    assert SECRET_KEY not in caplog.text
    assert "1.0.0" in caplog.text


def test_new_app_version_inherits_previous_active_configuration(configured_provider):
    # given: the provider updated the configuration of 1.0.0
    upload("1.1.0")
    # when
    binding = services.app_version_created(app_code="acme", app_version="1.1.0")
    # then
    assert binding.configuration.configuration_version == "1.1.0"
    assert configuration_active_get(provider=configured_provider, app_version="1.1.0") == binding.configuration


def test_new_app_version_binds_highest_lower_version_and_is_idempotent(configured_provider):
    # given: 2.0.0 has its own configuration
    services.app_version_created(app_code="acme", app_version="2.0.0")
    upload("2.0.0", app_version="2.0.0")
    # when
    first = services.app_version_created(app_code="acme", app_version="2.1.0")
    again = services.app_version_created(app_code="acme", app_version="2.1.0")
    # then
    assert first.configuration.configuration_version == "2.0.0"
    assert again.pk == first.pk
    assert ConfigurationBinding.objects.filter(app_version="2.1.0").count() == 1


def test_new_app_version_without_previous_configuration_binds_nothing(provider):
    assert services.app_version_created(app_code="acme", app_version="1.0.0") is None
    assert not ConfigurationBinding.objects.exists()


def test_provider_register_is_idempotent_and_updates_label(db):
    provider, created = services.provider_register(code="acme", label="Acme")
    again, created_again = services.provider_register(code="acme", label="Acme 2")
    assert created and not created_again
    assert again.pk == provider.pk and again.label == "Acme 2"
