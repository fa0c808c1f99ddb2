"""The developer console: the same services as the API behind a session sign-in, field errors inline."""

import json

import pytest
from django.test import Client

from marketplace.services import signup
from marketplace.tests.factories import SECRET_KEY, configuration

pytestmark = pytest.mark.django_db
CONSOLE = "/developers/console/"


@pytest.fixture
def web(developer):
    client = Client()
    response = client.post(f"{CONSOLE}login/", {"username": "dev", "password": "pass-12345-word"})
    assert response.status_code == 302
    return client


def test_console_needs_a_developer_sign_in(client, developer):
    assert client.get(CONSOLE)["Location"].startswith(f"{CONSOLE}login/")
    bad = client.post(f"{CONSOLE}login/", {"username": "dev", "password": "wrong"})
    assert bad.status_code == 400 and "Неверный email или пароль" in bad.content.decode()


def test_console_creates_an_app_version_scope_and_configuration_with_inline_errors(web, fake):
    created = web.post(CONSOLE, {"code": "acme", "name": "Acme Chat"})
    assert created.status_code == 302 and created["Location"] == f"{CONSOLE}apps/acme/"
    page = f"{CONSOLE}apps/acme/"
    assert web.post(page, {"action": "version", "version": "1.0.0"}).status_code == 200
    assert web.post(page, {"action": "scope", "version": "1.0.0"}).status_code == 200
    bad = web.post(page, {"action": "configuration", "version": "1.0.0",
                          "configuration": json.dumps({"providerLabel": "", "endpoints": {}})})
    assert bad.status_code == 400 and 'data-field="configurationVersion"' in bad.content.decode()
    data = configuration(endpoints=fake.endpoints())
    saved = web.post(page, {"action": "configuration", "version": "1.0.0", "configuration": json.dumps(data)})
    assert saved.status_code == 200 and "Конфигурация сохранена" in saved.content.decode()
    assert SECRET_KEY not in saved.content.decode()  # the key is never shown back
    secret = web.post(page, {"action": "secret"})
    assert secret.status_code == 200 and "whsec_" in secret.content.decode()


def test_console_edits_the_configuration_in_a_form_with_inline_errors(web, fake):
    from marketplace import gateway

    web.post(CONSOLE, {"code": "acme", "name": "Acme Chat"})
    page = f"{CONSOLE}apps/acme/"
    web.post(page, {"action": "version", "version": "1.0.0"})
    web.post(page, {"action": "scope", "version": "1.0.0"})
    form = {"action": "configuration_form", "version": "1.0.0", "configurationVersion": "1.0.0",
            "providerLabel": "Acme", "auth.headerName": "X-Api-Key", "auth.key": SECRET_KEY,
            **{f"endpoints.{name}": url for name, url in fake.endpoints().items()}}
    # a required endpoint left empty and a bad version: each error next to its input, the values kept
    bad = web.post(page, {**form, "configurationVersion": "one", "endpoints.sendMessage": ""})
    html = bad.content.decode()
    assert bad.status_code == 400 and 'class="field-error" data-field="configurationVersion"' in html
    assert 'value="Acme"' in html and SECRET_KEY not in html
    saved = web.post(page, form)
    assert saved.status_code == 200 and "Конфигурация сохранена" in saved.content.decode()
    active = gateway.provider_configuration_get(app_code="acme", app_version="1.0.0")
    assert active["endpoints"] == fake.endpoints() and active["providerLabel"] == "Acme"
    assert SECRET_KEY not in saved.content.decode()  # the key is never shown back


def test_console_shows_only_own_apps_and_logs(web, other_developer):
    from marketplace import services

    services.application_create(company=other_developer.user.provider_companies.get(), code="rival", name="Rival",
                                actor=other_developer.user)
    assert web.get(f"{CONSOLE}apps/rival/").status_code == 404
    assert "rival" not in web.get(CONSOLE).content.decode()
    assert web.post(f"{CONSOLE}deliveries/", {"delivery": "1", "action": "retry"}).status_code == 400


def test_blocked_company_is_signed_out_of_the_console(web, developer):
    signup.company_block(company=developer.user.provider_companies.get())
    assert web.get(CONSOLE).status_code == 302


def test_console_revokes_a_sandbox_token(web, developer, version, fake, commit):
    from marketplace.tests.factories import API

    # given: a version installed in the sandbox and a sandbox token, through the API
    assert developer.post(f"{API}/provider-configurations", configuration(endpoints=fake.endpoints()),
                          format="json").status_code == 201
    assert commit(lambda: developer.post(f"{API}/sandbox/installations", {"appCode": "acme", "appVersion": "1.0.0"},
                                         format="json")).status_code == 200
    issued = commit(lambda: developer.post(f"{API}/sandbox/tokens", {"appCode": "acme"}, format="json")).json()
    page = f"{CONSOLE}sandbox/"
    assert 'class="revoke-token"' in web.get(page).content.decode()
    # when
    bad = web.post(page, {"action": "revoke", "tokenId": "not-an-id"})
    revoked = commit(lambda: web.post(page, {"action": "revoke", "tokenId": issued["id"]}))
    # then: the token is revoked and the public API refuses it on the next call
    assert bad.status_code == 400 and 'data-field="tokenId"' in bad.content.decode()
    assert revoked.status_code == 200 and "отозван" in revoked.content.decode()
    assert 'class="revoke-token"' not in revoked.content.decode()
    public = Client(headers={"Authorization": f"Bearer {issued['token']}"})
    assert public.get("/api/v1/chats").status_code == 401
