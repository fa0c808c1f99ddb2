import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from communications.models import Provider, TenantConfiguration
from communications.tests.factories import upload

pytestmark = pytest.mark.django_db
URL = "/internal/v1/tenant-configurations"


def _body(tenant_id, version="1.0.0"):
    return {"tenantId": str(tenant_id), "appCode": "acme", "appVersion": version}


def _delete(client, tenant_id):
    return client.delete(f"{URL}?tenantId={tenant_id}&appCode=acme")


@pytest.mark.parametrize("who", ["anonymous", "developer", "crm"])
def test_lifecycle_endpoints_reject_everyone_but_the_marketplace_service(who, crm_client):
    # given
    client = APIClient()
    if who == "developer":
        user = get_user_model().objects.create_user("dev")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    elif who == "crm":
        client = crm_client
    # when
    responses = [client.post("/internal/v1/providers", {"code": "acme", "label": "A"}, format="json"),
                 client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "1.0.0"}, format="json"),
                 client.post(URL, _body(uuid.uuid4()), format="json"),
                 client.put(URL, _body(uuid.uuid4()), format="json"),
                 _delete(client, uuid.uuid4())]
    # then
    expected = 401 if who == "anonymous" else 403
    assert [response.status_code for response in responses] == [expected] * 5
    assert not Provider.objects.exists()


def test_register_provider_creates_then_updates(marketplace_client):
    first = marketplace_client.post("/internal/v1/providers", {"code": "acme", "label": "Acme"}, format="json")
    again = marketplace_client.post("/internal/v1/providers", {"code": "acme", "label": "Acme Chat"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"code": "acme", "label": "Acme Chat", "isActive": True}
    assert Provider.objects.get().label == "Acme Chat"


def test_register_provider_validates_code(marketplace_client):
    response = marketplace_client.post("/internal/v1/providers", {"code": "bad code!", "label": "A"}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()["error"]["fields"]


def test_app_version_notification_binds_previous_configuration(marketplace_client, configured_provider):
    response = marketplace_client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "1.1.0"},
                                       format="json")
    assert response.status_code == 200
    assert response.json() == {"appCode": "acme", "appVersion": "1.1.0", "configurationVersion": "1.0.0"}


def test_app_version_notification_for_unknown_provider_is_404(marketplace_client, db):
    response = marketplace_client.post("/internal/v1/app-versions", {"appCode": "ghost", "appVersion": "1.1.0"},
                                       format="json")
    assert response.status_code == 404
    assert "appCode" in response.json()["error"]["fields"]


def test_install_binds_tenant_to_active_configuration_and_retry_is_noop(marketplace_client, configured_provider,
                                                                        tenant_id):
    # when
    first = marketplace_client.post(URL, _body(tenant_id), format="json")
    retry = marketplace_client.post(URL, _body(tenant_id), format="json")
    # then
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["configurationVersion"] == "1.0.0" and first.json()["status"] == "active"
    assert TenantConfiguration.objects.count() == 1


def test_install_without_active_configuration_is_a_clear_4xx(marketplace_client, provider, tenant_id):
    response = marketplace_client.post(URL, _body(tenant_id), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_active_configuration"
    assert "appVersion" in response.json()["error"]["fields"]
    assert not TenantConfiguration.objects.exists()


def test_install_with_invalid_tenant_id_names_the_field(marketplace_client, configured_provider):
    response = marketplace_client.post(URL, {"tenantId": "nope", "appCode": "acme", "appVersion": "1.0.0"},
                                       format="json")
    assert response.status_code == 400
    assert "tenantId" in response.json()["error"]["fields"]


def test_newer_configuration_for_same_app_version_does_not_move_existing_tenants(marketplace_client,
                                                                               configured_provider, tenant_id):
    # given: a tenant on 1.0.0, then the provider uploads configuration 1.1.0 for the same app version
    marketplace_client.post(URL, _body(tenant_id), format="json")
    upload("1.1.0")
    newcomer = uuid.uuid4()
    # when
    marketplace_client.post(URL, _body(newcomer), format="json")
    same_version_put = marketplace_client.put(URL, _body(tenant_id), format="json")
    # then: the existing tenant keeps 1.0.0, the new tenant gets 1.1.0
    assert same_version_put.status_code == 200
    assert same_version_put.json()["configurationVersion"] == "1.0.0"
    assert TenantConfiguration.objects.get(tenant_id=newcomer).configuration.configuration_version == "1.1.0"


def test_upgrade_moves_tenant_to_active_configuration_of_new_app_version(marketplace_client, configured_provider,
                                                                         tenant_id):
    # given
    marketplace_client.post(URL, _body(tenant_id), format="json")
    marketplace_client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "2.0.0"}, format="json")
    upload("2.0.0", app_version="2.0.0")
    # when
    response = marketplace_client.put(URL, _body(tenant_id, "2.0.0"), format="json")
    # then
    assert response.status_code == 200
    assert response.json()["appVersion"] == "2.0.0" and response.json()["configurationVersion"] == "2.0.0"


def test_upgrade_refuses_downgrade_and_unknown_tenant(marketplace_client, configured_provider, tenant_id):
    marketplace_client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "2.0.0"}, format="json")
    marketplace_client.post(URL, _body(tenant_id, "2.0.0"), format="json")
    downgrade = marketplace_client.put(URL, _body(tenant_id, "1.0.0"), format="json")
    unknown = marketplace_client.put(URL, _body(uuid.uuid4(), "2.0.0"), format="json")
    assert downgrade.status_code == 400 and "appVersion" in downgrade.json()["error"]["fields"]
    assert unknown.status_code == 404 and "tenantId" in unknown.json()["error"]["fields"]
    assert TenantConfiguration.objects.get(tenant_id=tenant_id).app_version == "2.0.0"


def test_upgrade_to_version_without_configuration_changes_nothing(marketplace_client, configured_provider, tenant_id):
    marketplace_client.post(URL, _body(tenant_id), format="json")
    response = marketplace_client.put(URL, _body(tenant_id, "3.0.0"), format="json")
    assert response.status_code == 409
    assert TenantConfiguration.objects.get(tenant_id=tenant_id).app_version == "1.0.0"


def test_install_of_another_version_while_installed_asks_for_put(marketplace_client, configured_provider, tenant_id):
    marketplace_client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "2.0.0"}, format="json")
    marketplace_client.post(URL, _body(tenant_id), format="json")
    response = marketplace_client.post(URL, _body(tenant_id, "2.0.0"), format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_installed"


def test_delete_records_disabled_state_and_is_idempotent(marketplace_client, configured_provider, tenant_id):
    # given
    marketplace_client.post(URL, _body(tenant_id), format="json")
    # when
    first = _delete(marketplace_client, tenant_id)
    binding = TenantConfiguration.objects.get()
    again = _delete(marketplace_client, tenant_id)
    # then
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "disabled" and first.json()["disabledAt"]
    assert binding.status == TenantConfiguration.Status.DISABLED
    assert TenantConfiguration.objects.get().disabled_at == binding.disabled_at  # the retry did not re-emit


def test_delete_of_unknown_binding_is_404_and_bad_query_is_400(marketplace_client, configured_provider):
    assert _delete(marketplace_client, uuid.uuid4()).status_code == 404
    response = marketplace_client.delete(f"{URL}?appCode=acme")
    assert response.status_code == 400 and "tenantId" in response.json()["error"]["fields"]


def test_reinstall_after_delete_binds_current_active_configuration(marketplace_client, configured_provider,
                                                                   tenant_id):
    marketplace_client.post(URL, _body(tenant_id), format="json")
    _delete(marketplace_client, tenant_id)
    upload("1.1.0")
    response = marketplace_client.post(URL, _body(tenant_id), format="json")
    assert response.status_code == 201
    assert response.json()["configurationVersion"] == "1.1.0" and response.json()["status"] == "active"


@pytest.mark.parametrize("body", [{"code": "acme", "label": 0}, {"code": 0, "label": "A"}, {"code": "acme", "label": True}])
def test_register_provider_refuses_non_string_code_or_label(marketplace_client, body):
    # the schema says both are strings: a number or a boolean is not coerced to text (found by the fuzzer)
    response = marketplace_client.post("/internal/v1/providers", body, format="json")
    assert response.status_code == 400
    field = next(name for name, value in body.items() if not isinstance(value, str))
    assert field in response.json()["error"]["fields"]
    assert not Provider.objects.exists()


def test_app_version_that_is_not_semver_is_a_400_naming_it(marketplace_client, configured_provider):
    response = marketplace_client.post("/internal/v1/app-versions", {"appCode": "acme", "appVersion": "1.0"},
                                       format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"appVersion": ["Версия приложения должна соответствовать SemVer 2.0.0."]}
