import pytest

from communications.models import ConfigurationBinding, Provider
from marketplace.models import Application, AppVersion
from marketplace.tests.factories import API, developer_client

pytestmark = pytest.mark.django_db


def _scopes(code, version):
    return set(AppVersion.objects.get(application__code=code, version=version)
               .scopes.values_list("code", flat=True))


def test_developer_creates_app_and_versions(developer):
    # when
    app = developer.post(f"{API}/apps", {"code": "acme", "name": "Acme Chat"}, format="json")
    first = developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    second = developer.post(f"{API}/apps/acme/versions", {"version": "1.10.0"}, format="json")
    # then
    assert (app.status_code, first.status_code, second.status_code) == (201, 201, 201)
    listed = developer.get(f"{API}/apps/acme/versions").json()
    assert [item["version"] for item in listed] == ["1.10.0", "1.0.0"]
    assert not Provider.objects.exists()  # no communications scope, nothing registered


@pytest.mark.parametrize(("version", "code"), [("1.0", "invalid"), ("0.9.0", "version_not_increased"),
                                                ("1.0.0", "version_not_increased")])
def test_version_must_be_semver_and_increase(developer, version, code, app):
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    response = developer.post(f"{API}/apps/acme/versions", {"version": version}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and "version" in response.json()["error"]["fields"]


def test_app_code_must_be_unique_and_well_formed(developer, other_developer, app):
    taken = other_developer.post(f"{API}/apps", {"code": "acme", "name": "X"}, format="json")
    malformed = developer.post(f"{API}/apps", {"code": "Acme Chat", "name": "X"}, format="json")
    assert taken.status_code == 409 and "code" in taken.json()["error"]["fields"]
    assert malformed.status_code == 400 and "code" in malformed.json()["error"]["fields"]


def test_enabling_communications_scope_registers_provider_with_app_code(developer, app):
    # given
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    # when
    response = developer.put(f"{API}/apps/acme/versions/1.0.0/scopes", {"scopes": ["communications"]}, format="json")
    # then
    assert response.status_code == 200 and response.json()["scopes"] == ["communications"]
    provider = Provider.objects.get()
    assert (provider.code, provider.label) == ("acme", "Acme Chat")


def test_scope_cannot_be_disabled_on_the_version(developer, version):
    response = developer.put(f"{API}/apps/acme/versions/1.0.0/scopes", {"scopes": []}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "communications_scope_locked"
    assert "scopes" in response.json()["error"]["fields"]
    assert _scopes("acme", "1.0.0") == {"communications"}


def test_scope_is_inherited_and_cannot_be_disabled_on_later_versions(developer, version):
    # when
    inherited = developer.post(f"{API}/apps/acme/versions", {"version": "1.1.0"}, format="json")
    explicit_off = developer.post(f"{API}/apps/acme/versions", {"version": "1.2.0", "scopes": []}, format="json")
    disable_later = developer.put(f"{API}/apps/acme/versions/1.1.0/scopes", {"scopes": []}, format="json")
    # then
    assert inherited.status_code == 201 and inherited.json()["scopes"] == ["communications"]
    assert explicit_off.status_code == 400 and "scopes" in explicit_off.json()["error"]["fields"]
    assert disable_later.status_code == 400
    assert _scopes("acme", "1.1.0") == {"communications"}
    assert not AppVersion.objects.filter(version="1.2.0").exists()


def test_scope_can_be_enabled_in_a_later_version_and_reaches_newer_ones(developer, app):
    # given: 1.0.0 and 2.0.0 without the scope
    for number in ("1.0.0", "2.0.0", "3.0.0"):
        developer.post(f"{API}/apps/acme/versions", {"version": number}, format="json")
    # when: enabled on 2.0.0
    developer.put(f"{API}/apps/acme/versions/2.0.0/scopes", {"scopes": ["communications"]}, format="json")
    # then: not on 1.0.0, on 2.0.0 and every later version, and 3.0.0 can't drop it
    assert _scopes("acme", "1.0.0") == set()
    assert _scopes("acme", "2.0.0") == _scopes("acme", "3.0.0") == {"communications"}
    assert developer.put(f"{API}/apps/acme/versions/3.0.0/scopes", {"scopes": []}, format="json").status_code == 400
    assert developer.put(f"{API}/apps/acme/versions/1.0.0/scopes", {"scopes": []}, format="json").status_code == 200


def test_unknown_scope_is_rejected(developer, app):
    developer.post(f"{API}/apps/acme/versions", {"version": "1.0.0"}, format="json")
    response = developer.put(f"{API}/apps/acme/versions/1.0.0/scopes", {"scopes": ["telepathy"]}, format="json")
    assert response.status_code == 400 and "scopes" in response.json()["error"]["fields"]


def test_new_version_notifies_module_which_binds_previous_configuration(developer, configured_version):
    # when
    response = developer.post(f"{API}/apps/acme/versions", {"version": "1.1.0"}, format="json")
    # then
    assert response.status_code == 201
    binding = ConfigurationBinding.objects.get(app_version="1.1.0", is_active=True)
    assert binding.configuration.configuration_version == "1.0.0"
    read = developer.get(f"{API}/provider-configurations?appCode=acme&appVersion=1.1.0")
    assert read.status_code == 200 and read.json()["configurationVersion"] == "1.0.0"


def test_other_developer_cannot_see_or_change_the_app(other_developer, version):
    assert other_developer.get(f"{API}/apps").json() == []
    assert other_developer.get(f"{API}/apps/acme").status_code == 404
    assert other_developer.post(f"{API}/apps/acme/versions", {"version": "2.0.0"}, format="json").status_code == 404
    assert other_developer.put(f"{API}/apps/acme/versions/1.0.0/scopes", {"scopes": []},
                               format="json").status_code == 404
    assert other_developer.post(f"{API}/apps/acme/versions/1.0.0/publish").status_code == 404
    assert AppVersion.objects.count() == 1


def test_service_accounts_and_anonymous_are_not_developers(marketplace_client, api_client, app):
    assert marketplace_client.get(f"{API}/apps").status_code == 403
    assert api_client.get(f"{API}/apps").status_code == 401


def test_user_in_two_companies_must_choose_company(db):
    client = developer_client("multi", "First LLC")
    from marketplace.tests.factories import ProviderCompanyFactory
    ProviderCompanyFactory(name="Second LLC").members.add(client.user)
    missing = client.post(f"{API}/apps", {"code": "multi", "name": "M"}, format="json")
    foreign = client.post(f"{API}/apps", {"code": "multi", "name": "M", "companyId": 999999}, format="json")
    assert missing.status_code == 400 and "companyId" in missing.json()["error"]["fields"]
    assert foreign.status_code == 400 and "companyId" in foreign.json()["error"]["fields"]
    assert not Application.objects.exists()


def test_developer_obtains_jwt_from_auth_endpoint(api_client, developer):
    token = api_client.post("/api/auth/token/", {"username": "dev", "password": "pass-12345-word"}, format="json")
    assert token.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    assert api_client.get(f"{API}/scopes").json() == [{"code": "communications", "label": "Коммуникации"}]
