import logging

import pytest

from communications.models import ProviderConfiguration
from marketplace.tests.factories import API, SECRET_KEY, configuration

pytestmark = pytest.mark.django_db
URL = f"{API}/provider-configurations"


def test_create_then_get_returns_active_configuration_with_masked_key(developer, version):
    # when
    created = developer.post(URL, configuration(), format="json")
    read = developer.get(f"{URL}?appCode=acme&appVersion=1.0.0")
    # then
    assert created.status_code == 201
    body = read.json()
    assert read.status_code == 200
    assert body["configurationVersion"] == "1.0.0" and body["isActive"] is True
    assert body["endpoints"]["sendMessage"] == "https://provider.example/sendMessage"
    assert body["auth"] == {"type": "API_KEY", "headerName": "X-Api-Key", "key": "****-123"}
    assert SECRET_KEY not in created.content.decode() + read.content.decode()


def test_update_activates_new_version_and_history_lists_all(developer, configured_version):
    # when
    updated = developer.put(URL, configuration("1.1.0"), format="json")
    read = developer.get(f"{URL}?appCode=acme&appVersion=1.0.0&history=true")
    # then
    assert updated.status_code == 200 and updated.json()["configurationVersion"] == "1.1.0"
    history = read.json()["history"]
    assert [(item["configurationVersion"], item["isActive"]) for item in history] == [("1.1.0", True),
                                                                                      ("1.0.0", False)]
    assert all(item["auth"]["key"].startswith("****") for item in history)


def test_post_twice_asks_for_put_and_put_without_configuration_is_404(developer, configured_version, app):
    again = developer.post(URL, configuration("1.1.0"), format="json")
    assert again.status_code == 409 and "appVersion" in again.json()["error"]["fields"]
    assert ProviderConfiguration.objects.count() == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"endpoints": {"sendMessage": "https://p.example/s"}}, "endpoints.updateMessageContent"),
    ({"endpoints": {**configuration()["endpoints"], "fax": "https://p.example/f"}}, "endpoints.fax"),
    ({"endpoints": {**configuration()["endpoints"], "markChatRead": "provider.example/read"}}, "endpoints.markChatRead"),
    ({"auth": {"type": "BASIC", "headerName": "Authorization", "key": "user:password"}}, "auth.type"),
    ({"configurationVersion": "one"}, "configurationVersion"),
    ({"appCode": "ghost"}, "appCode"),
    ({"appVersion": "9.9.9"}, "appVersion"),
    ({"providerLabel": None}, "providerLabel"),
])
def test_every_validation_error_names_the_field(developer, version, change, field):
    # when
    response = developer.post(URL, {**configuration(), **change}, format="json")
    # then
    assert 400 <= response.status_code < 500
    assert field in response.json()["error"]["fields"], response.json()
    assert not ProviderConfiguration.objects.exists()


def test_basic_auth_message_promises_future_release(developer, version):
    response = developer.post(URL, configuration(auth={"type": "BASIC", "headerName": "A", "key": "user:password"}),
                              format="json")
    assert "будет поддержано в следующих релизах" in response.json()["error"]["fields"]["auth.type"][0]


def test_semver_must_increase_through_the_api(developer, configured_version):
    response = developer.put(URL, configuration("1.0.0"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "configuration_version_not_increased"
    assert "configurationVersion" in response.json()["error"]["fields"]


def test_scope_not_enabled_is_rejected(developer, app):
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    response = developer.post(URL, configuration(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "communications_scope_disabled"
    assert "appVersion" in response.json()["error"]["fields"]


def test_other_developer_can_neither_read_nor_change_configuration(other_developer, configured_version):
    # when
    read = other_developer.get(f"{URL}?appCode=acme&appVersion=1.0.0")
    update = other_developer.put(URL, configuration("2.0.0"), format="json")
    create = other_developer.post(URL, configuration("2.0.0"), format="json")
    # then
    assert (read.status_code, update.status_code, create.status_code) == (404, 404, 404)
    assert list(ProviderConfiguration.objects.values_list("configuration_version", flat=True)) == ["1.0.0"]


def test_service_account_cannot_use_developer_api(marketplace_client, version):
    response = marketplace_client.post(URL, configuration(), format="json")
    assert response.status_code == 403
    assert not ProviderConfiguration.objects.exists()


def test_get_without_configuration_is_404_and_missing_query_is_400(developer, version):
    missing = developer.get(f"{URL}?appCode=acme&appVersion=1.0.0")
    bad = developer.get(f"{URL}?appCode=acme")
    assert missing.status_code == 404 and "appVersion" in missing.json()["error"]["fields"]
    assert bad.status_code == 400 and "appVersion" in bad.json()["error"]["fields"]


def test_api_key_is_not_logged(developer, version, caplog):
    with caplog.at_level(logging.DEBUG):
        developer.post(URL, configuration(), format="json")
        developer.post(URL, configuration(auth={"type": "API_KEY", "headerName": "X", "key": "x"}), format="json")
    assert SECRET_KEY not in caplog.text
