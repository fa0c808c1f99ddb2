import uuid

import pytest

from communications.models import TenantConfiguration
from marketplace import services
from marketplace.models import Installation, ModerationDecision
from marketplace.tests.factories import API, configuration, record_passed_test_run

pytestmark = pytest.mark.django_db
INSTALL = f"{API}/installations"


def _unmet_codes(response):
    return [item["code"] for item in response.json()["error"]["unmet"]]


def test_publish_lists_every_unmet_condition(developer, app):
    # given: a version without scope, configuration, moderation or testing
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    # when
    response = developer.post(f"{API}/apps/acme/versions/1.0.0/publish")
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "publish_conditions_unmet"
    assert _unmet_codes(response) == ["communications_scope", "moderation", "provider_testing", "sbercrm_testing"]


def test_publish_requires_configuration_once_scope_is_enabled(developer, version):
    services.app_version_approve(version=version, actor=developer.user)
    response = developer.post(f"{API}/apps/acme/versions/1.0.0/publish")
    assert _unmet_codes(response) == ["provider_configuration", "provider_testing", "sbercrm_testing"]


def test_provider_confirms_testing_but_sbercrm_side_is_still_needed(developer, configured_version):
    services.app_version_approve(version=configured_version, actor=developer.user)
    confirmed = developer.post(f"{API}/apps/acme/versions/1.0.0/testing")
    assert confirmed.status_code == 200
    assert [item["code"] for item in confirmed.json()["unmetConditions"]] == ["sbercrm_testing"]
    assert _unmet_codes(developer.post(f"{API}/apps/acme/versions/1.0.0/publish")) == ["sbercrm_testing"]


def test_publish_succeeds_when_all_four_conditions_hold(developer, publishable):
    response = developer.post(f"{API}/apps/acme/versions/1.0.0/publish")
    assert response.status_code == 200 and response.json()["publishedAt"]
    assert response.json()["unmetConditions"] == []
    decision = ModerationDecision.objects.filter(action=ModerationDecision.Action.PUBLISHED).get()
    assert decision.actor == developer.user and decision.created_at


def test_submit_records_decision_and_cannot_repeat(developer, version):
    assert developer.post(f"{API}/apps/acme/versions/1.0.0/submit").json()["moderationStatus"] == "pending"
    assert developer.post(f"{API}/apps/acme/versions/1.0.0/submit").status_code == 409
    assert ModerationDecision.objects.get().action == ModerationDecision.Action.SUBMITTED


def _install(client, tenant_id, version="1.0.0"):
    return client.post(INSTALL, {"tenantId": str(tenant_id), "appCode": "acme", "appVersion": version}, format="json")


def test_install_binds_tenant_in_communications_and_retry_is_noop(marketplace_client, published):
    tenant_id = uuid.uuid4()
    first, retry = _install(marketplace_client, tenant_id), _install(marketplace_client, tenant_id)
    assert (first.status_code, retry.status_code) == (201, 200)
    binding = TenantConfiguration.objects.get(tenant_id=tenant_id)
    assert (binding.provider.code, binding.configuration.configuration_version) == ("acme", "1.0.0")


def test_only_published_versions_can_be_installed(marketplace_client, configured_version):
    response = _install(marketplace_client, uuid.uuid4())
    assert response.status_code == 400 and "appVersion" in response.json()["error"]["fields"]
    assert not Installation.objects.exists() and not TenantConfiguration.objects.exists()


def test_upgrade_moves_tenant_but_new_configuration_of_same_version_does_not(marketplace_client, developer,
                                                                            published):
    # given: tenant on 1.0.0; the provider updates 1.0.0's configuration, then ships 1.1.0 with its own
    tenant_id = uuid.uuid4()
    _install(marketplace_client, tenant_id)
    developer.put(f"{API}/provider-configurations", configuration("1.1.0"), format="json")
    assert TenantConfiguration.objects.get().configuration.configuration_version == "1.0.0"
    new = services.app_version_create(application=published.application, version="1.1.0")
    developer.put(f"{API}/provider-configurations", configuration("1.2.0", app_version="1.1.0"), format="json")
    services.app_version_approve(version=new, actor=developer.user)
    record_passed_test_run(new)
    for side in ("provider", "sbercrm"):
        services.app_version_mark_tested(version=new, actor=developer.user, side=side)
    services.app_version_publish(version=new, actor=developer.user)
    # when
    response = marketplace_client.put(INSTALL, {"tenantId": str(tenant_id), "appCode": "acme",
                                                "appVersion": "1.1.0"}, format="json")
    # then
    assert response.status_code == 200 and response.json()["appVersion"] == "1.1.0"
    binding = TenantConfiguration.objects.get()
    assert (binding.app_version, binding.configuration.configuration_version) == ("1.1.0", "1.2.0")


def test_uninstall_disables_both_sides_and_is_idempotent(marketplace_client, published):
    tenant_id = uuid.uuid4()
    _install(marketplace_client, tenant_id)
    first = marketplace_client.delete(f"{INSTALL}?tenantId={tenant_id}&appCode=acme")
    again = marketplace_client.delete(f"{INSTALL}?tenantId={tenant_id}&appCode=acme")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "disabled"
    assert TenantConfiguration.objects.get().status == TenantConfiguration.Status.DISABLED
    assert marketplace_client.get(f"{INSTALL}?tenantId={tenant_id}&appCode=acme").json()["status"] == "disabled"


def test_upgrade_to_unknown_version_is_404(marketplace_client, published):
    tenant_id = uuid.uuid4()
    _install(marketplace_client, tenant_id)
    response = marketplace_client.put(INSTALL, {"tenantId": str(tenant_id), "appCode": "acme",
                                                "appVersion": "0.1.0"}, format="json")
    assert response.status_code == 404 and "appVersion" in response.json()["error"]["fields"]


def test_installations_api_rejects_developers(developer, published):
    assert _install(developer, uuid.uuid4()).status_code == 403
    assert not Installation.objects.exists()
