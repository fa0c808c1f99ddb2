"""Issue 16 item 1: a configuration uploaded to a published version waits for the test stand and the
SberCRM mark; until then every tenant, new or existing, keeps the configuration that passed."""

import uuid

import pytest

from communications.models import ConformanceRun, TenantConfiguration
from communications.tests.factories import upload_configuration
from config.errors import ConflictError
from config.selectors import dashboard_figures
from config.testing.fake_provider import FakeProvider
from marketplace import gateway, selectors, services
from marketplace.admin_moderation import moderation_context
from marketplace.models import AppVersion
from marketplace.selectors import app_version_pending_configuration_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(app_version, developer, start):
    services.app_version_approve(version=app_version, actor=developer.user)
    services.app_version_mark_tested(version=app_version, actor=developer.user, side="provider")
    assert start(app_version)["passed"]
    services.app_version_mark_tested(version=app_version, actor=developer.user, side="sbercrm")
    return services.app_version_publish(version=app_version, actor=developer.user)


@pytest.fixture
def untested():
    with FakeProvider() as fake:
        yield fake


def _install(version) -> str:
    tenant_id = uuid.uuid4()
    services.installation_install(tenant_id=tenant_id, version=AppVersion.objects.get(pk=version.pk))
    return TenantConfiguration.objects.get(tenant_id=tenant_id).configuration.configuration_version


def test_upload_to_a_published_version_waits_and_tenants_keep_the_tested_configuration(
        published, developer, untested, moderator):
    existing = _install(published)
    # when: a configuration nobody tested is uploaded to the published version
    response = upload_configuration(developer, untested, version="1.1.0", method="put")
    # then: it is stored as pending, the tested one stays active
    assert response.status_code == 200
    body = response.json()
    assert (body["configurationVersion"], body["isActive"], body["isPending"]) == ("1.1.0", False, True)
    assert gateway.provider_configuration_active_version(app_code="acme", app_version="1.0.0") == "1.0.0"
    active = developer.get("/internal/v1/marketplace/provider-configurations",
                           {"appCode": "acme", "appVersion": "1.0.0"}).json()
    assert (active["configurationVersion"], active["pendingConfigurationVersion"]) == ("1.0.0", "1.1.0")
    assert selectors.app_version_unmet_conditions(version=published) == []
    assert (existing, _install(published)) == ("1.0.0", "1.0.0")
    # and the moderation queue shows it
    assert list(app_version_pending_configuration_list()) == [published]
    figures = {figure.key: figure for figure in dashboard_figures(user=moderator.user)}
    assert figures["pending_configurations"].count == 1
    assert "pending_configuration=1" in figures["pending_configurations"].url
    assert moderation_context(published)["pending_configuration"]["configurationVersion"] == "1.1.0"
    listed = moderator.get("/admin/marketplace/appversion/", {"pending_configuration": "1"})
    assert listed.status_code == 200 and listed.context["cl"].result_count == 1


def test_the_mark_is_refused_until_the_pending_configuration_passes_and_no_override_skips_it(
        published, developer, moderator, untested):
    upload_configuration(developer, untested, version="1.1.0", method="put")
    with pytest.raises(ConflictError) as error:
        services.app_version_mark_tested(version=published, actor=developer.user, side="sbercrm")
    assert error.value.code == "teststand_not_passed"
    with pytest.raises(ConflictError):
        services.app_version_mark_tested(version=published, actor=moderator.user, side="sbercrm",
                                         override_reason="проверено вручную")
    assert gateway.provider_configuration_active_version(app_code="acme", app_version="1.0.0") == "1.0.0"


def test_a_passing_run_and_the_mark_activate_it_for_new_tenants_only(published, developer, untested, start):
    before = _install(published)
    upload_configuration(developer, untested, version="1.1.0", method="put")
    # when: the stand checks the pending configuration, and SberCRM marks it
    run = start(published)
    assert (run["configurationVersion"], run["passed"]) == ("1.1.0", True)
    assert ConformanceRun.objects.get(pk=run["id"]).configuration.endpoints == untested.endpoints()
    services.app_version_mark_tested(version=published, actor=developer.user, side="sbercrm")
    # then
    assert gateway.provider_configuration_active_version(app_code="acme", app_version="1.0.0") == "1.1.0"
    published.refresh_from_db()
    assert published.sbercrm_tested_configuration == "1.1.0" and published.is_published
    assert (before, _install(published)) == ("1.0.0", "1.1.0")
    assert not app_version_pending_configuration_list().exists()


def test_unpublished_version_still_activates_the_latest_upload(app_version, developer, untested):
    response = upload_configuration(developer, untested, version="1.1.0", method="put")
    assert (response.json()["isActive"], response.json()["isPending"]) == (True, False)
    assert gateway.provider_configuration_active_version(app_code="acme", app_version="1.0.0") == "1.1.0"
